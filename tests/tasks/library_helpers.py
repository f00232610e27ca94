"""Shared by the task-library tests: one cached batch of instances per (family, level), so that
the distinctness check and the answer checks of a family reuse the same generated problems."""

from __future__ import annotations

import functools

from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.registry import get_task

DISTINCT_SAMPLE = 1100
"""Indices generated per family and level; at least MIN_DISTINCT of them must differ."""
MIN_DISTINCT = 1000


@functools.cache
def batch(name: str, difficulty: Difficulty, seed: int = 0) -> tuple[Instance, ...]:
    """The first DISTINCT_SAMPLE instances of a family at a level."""
    task = get_task(name)
    return tuple(task.instance(seed, i, difficulty) for i in range(DISTINCT_SAMPLE))


def reply(answer: str) -> str:
    """A chatty output that ends with the answer line, as an instruct model would write it."""
    return f"Let me work through this carefully.\n\nSome reasoning here.\n\nAnswer: {answer}"
