"""Scoring: is this output right? Answer extraction and exact number comparison."""

from gapbench.scoring.extract import (
    Extraction,
    extract_choice,
    extract_number,
    grade_choice,
    grade_number,
    numbers_equal,
    strip_think,
)

__all__ = [
    "Extraction",
    "extract_choice",
    "extract_number",
    "grade_choice",
    "grade_number",
    "numbers_equal",
    "strip_think",
]
