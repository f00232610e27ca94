"""`linear`: solutions found by brute force, evaluating both sides of each equation as Python."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch, reply

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.linear import LinearTask

TASK = LinearTask()
RANGE = range(-60, 61)


def python_side(text: str) -> str:
    """'3x - 2y + 4', '-2(x - 3) + 1' as Python: insert the implied multiplications."""
    text = re.sub(r"(\d)([xy(])", r"\1*\2", text)
    return text.replace("-(", "-1*(")


def residual(equation: str) -> Callable[[int, int], int]:
    """left - right of the equation as a function of x and y (compiled once)."""
    left, right = equation.split(" = ")
    source = f"lambda x, y: ({python_side(left)}) - ({python_side(right)})"
    function = eval(source, {"__builtins__": {}})
    assert callable(function)
    return function  # type: ignore[no-any-return]


def solve(question: str) -> int:
    if m := re.fullmatch(r"Solve for x: (.+)\.", question):
        f = residual(m[1])
        (x,) = [x for x in RANGE if f(x, 0) == 0]
        return x
    m = re.fullmatch(
        r"Solve the system of equations (.+) and (.+)\. What is the value of (x|y|x \+ y)\?",
        question,
    )
    assert m, question
    f, g = residual(m[1]), residual(m[2])
    ((x, y),) = [(x, y) for x, y in itertools.product(RANGE, RANGE) if f(x, y) == g(x, y) == 0]
    return {"x": x, "y": y, "x + y": x + y}[m[3]]


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert inst.answer == str(solve(inst.question)), inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_the_equations(difficulty: Difficulty) -> None:
    count = 1100 if difficulty != "hard" else 300  # the 2D brute force is slower
    for inst in batch("linear", difficulty)[:count]:
        assert inst.answer == str(solve(inst.question)), inst.question
        # Written as people write equations: no '+ -3', no '1x'.
        assert not re.search(r"[-+] -|(?<![\d.])1[xy]", inst.question), inst.question


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert inst.answer == str(solve(inst.question))


@pytest.mark.parametrize(
    ("output", "correct"),
    [
        (reply("-3"), True),
        (reply("x = -3"), True),
        ("Therefore $x = -3$.", True),
        (reply("−3"), True),  # typographic minus
        (reply("3"), False),
        (reply("x = 3, so -3 is wrong"), False),
    ],
)
def test_scoring_formats(output: str, correct: bool) -> None:
    inst = TASK.instance(0, 0, "easy")
    inst = type(inst)(**{**inst.__dict__, "answer": "-3"})
    assert TASK.score(inst, output).correct is correct
