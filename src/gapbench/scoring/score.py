"""The verdict a scorer gives on one output. It lives in scoring, below the tasks that return it,
so that the extractors and the review can build one without importing any task family."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    """The verdict on one output."""

    correct: bool
    extracted: str | None
    """The answer we read from the output, normalised; None when extraction failed."""
    extraction_ok: bool
    """False when no answer could be read at all: a harness-visible failure, not a wrong answer."""
    method: str = ""
    """How the answer was found ('answer-line', 'boxed', 'last-number', ...), for auditing."""
