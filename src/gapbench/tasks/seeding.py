"""Deterministic randomness for task generators.

Python's hash() is salted per process, so generators derive their `random.Random` from SHA-256 of
the instance's identity instead: the same (task, version, seed, index, difficulty) gives the same
problem on every machine and every run.
"""

from __future__ import annotations

import hashlib
import random

FEWSHOT_SALT = "fewshot"
"""Mixed into few-shot seeds: worked examples come from a stream disjoint from evaluated items."""


def derive_rng(*parts: object) -> random.Random:
    """A `random.Random` seeded by a stable hash of `parts` (joined by an unambiguous separator)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))
