"""`percent`: every answer recomputed from the question text with exact Fractions."""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch, reply

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.percent import PercentTask

TASK = PercentTask()


def _n(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def _pct(p: str) -> Fraction:
    return Fraction(int(p), 100)


# Each question kind, recognised from its wording, and how to compute its answer.
SOLVERS: list[tuple[str, Callable[[re.Match[str]], Fraction]]] = [
    (r"What is (\d+)% of ([\d,]+)\?", lambda m: _pct(m[1]) * _n(m[2])),
    (r"([\d,]+) is what percent of ([\d,]+)\?", lambda m: _n(m[1]) / _n(m[2]) * 100),
    (
        r"costs \$([\d,]+)\. Its price goes up by (\d+)%\. What is the new price",
        lambda m: _n(m[1]) * (1 + _pct(m[2])),
    ),
    (
        r"costs \$([\d,]+) and is on sale for (\d+)% off\. What is the sale price",
        lambda m: _n(m[1]) * (1 - _pct(m[2])),
    ),
    (
        r"After a (\d+)% price increase, a \w+ costs \$([\d,.]+)\. What was its price",
        lambda m: _n(m[2]) / (1 + _pct(m[1])),
    ),
    (
        r"After a (\d+)% discount, a \w+ costs \$([\d,.]+)\. What was its price",
        lambda m: _n(m[2]) / (1 - _pct(m[1])),
    ),
    (
        r"had ([\d,]+) \w+\. \d+ years later it has ([\d,]+)\. By what percent did the number "
        r"of \w+ (increase|decrease)\?",
        lambda m: abs(_n(m[2]) - _n(m[1])) / _n(m[1]) * 100,
    ),
    (
        r"costs \$([\d,]+)\. Its price is discounted by (\d+)%, and then a (\d+)% sales tax is "
        r"added to the discounted price\. What is the final price",
        lambda m: _n(m[1]) * (1 - _pct(m[2])) * (1 + _pct(m[3])),
    ),
    (
        r"costs \$([\d,]+)\. Its price goes up by (\d+)%, and later the new price is cut by "
        r"(\d+)%\. What is the final price",
        lambda m: _n(m[1]) * (1 + _pct(m[2])) * (1 - _pct(m[3])),
    ),
]


def solve(question: str) -> Fraction:
    found = [(p, f) for p, f in SOLVERS if re.search(p, question)]
    assert len(found) == 1, f"{question!r} matches {len(found)} kinds"
    pattern, compute = found[0]
    match = re.search(pattern, question)
    assert match is not None
    return compute(match)


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert Fraction(inst.answer) == solve(inst.question), inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_the_text(difficulty: Difficulty) -> None:
    for inst in batch("percent", difficulty):
        value = solve(inst.question)
        assert Fraction(inst.answer) == value, inst.question
        assert re.fullmatch(r"\d+(\.\d{1,2})?", inst.answer), "answers are exact to the cent"
        if "growth" in inst.question or "what percent" in inst.question:
            assert value.denominator == 1


def test_no_decrease_reaches_zero_and_growth_matches_direction() -> None:
    for difficulty in ("medium", "hard"):
        for inst in batch("percent", difficulty):
            m = re.search(
                r"had ([\d,]+) .* it has ([\d,]+)\. .* (increase|decrease)\?", inst.question
            )
            if m:
                start, end = _n(m[1]), _n(m[2])
                assert (end > start) == (m[3] == "increase") and end > 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert Fraction(inst.answer) == solve(inst.question)


@pytest.mark.parametrize(
    ("output", "correct"),
    [
        (reply("86.4"), True),
        (reply("$86.40"), True),
        ("The final price is **$86.40**.", True),
        (reply("86.40 dollars"), True),
        (reply("86"), False),
        (reply("$86.41"), False),
    ],
)
def test_scoring_formats(output: str, correct: bool) -> None:
    inst = TASK.instance(0, 0, "hard")
    inst = type(inst)(**{**inst.__dict__, "answer": "86.4"})
    assert TASK.score(inst, output).correct is correct
