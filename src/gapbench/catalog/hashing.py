"""sha256 of model files, read in blocks: they are hundreds of MB."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 4 << 20
"""Read size: large enough that hashing runs at disk speed, small enough to stay out of the way."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
