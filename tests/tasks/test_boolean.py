"""`boolean`: each formula is translated to Python integer arithmetic and evaluated with eval."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch, reply

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.boolean import BooleanTask

TASK = BooleanTask()
OPERATORS = {"easy": (2, 3), "medium": (3, 4), "hard": (5, 7)}
# On 0/1 integers: NOT a = 1 - a, AND = &, OR = |, XOR = ^, a IMPLIES b = a <= b. Arithmetic binds
# tighter than the bitwise operators, and those tighter than <=, so 'NOT P AND Q' stays (1-P) & Q.
TRANSLATION = {"NOT": "1 -", "AND": "&", "OR": "|", "XOR": "^", "IMPLIES": "<="}


def solve(question: str) -> tuple[bool, int]:
    """(value, number of binary operators) from the question text alone."""
    m = re.fullmatch(r"Let (.+?)\. What is the value of (.+?)\?(?: \(.*\))?", question)
    assert m, question
    env = {
        name: int(value == "True") for name, value in re.findall(r"([A-Z]) = (True|False)", m[1])
    }
    formula = m[2]
    python = re.sub(r"\b(NOT|AND|OR|XOR|IMPLIES)\b", lambda t: TRANSLATION[t[1]], formula)
    assert set(re.findall(r"[A-Z]+", python)) <= set(env), "every variable is given a value"
    value = eval(python, {"__builtins__": {}}, env)
    binary = len(re.findall(r"\b(AND|OR|XOR|IMPLIES)\b", formula))
    return bool(value), binary


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert inst.answer == str(solve(inst.question)[0]), inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_python_evaluation(difficulty: Difficulty) -> None:
    trues = 0
    for inst in batch("boolean", difficulty):
        value, binary = solve(inst.question)
        assert inst.answer == str(value), inst.question
        lo, hi = OPERATORS[difficulty]
        assert lo <= binary <= hi
        trues += value
    assert 0.4 < trues / len(batch("boolean", difficulty)) < 0.6  # balanced by construction


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert inst.answer == str(solve(inst.question)[0])


def test_operators_are_explained_when_used() -> None:
    for inst in batch("boolean", "hard")[:200]:
        for op in ("XOR", "IMPLIES"):
            assert (f"{op} is" in inst.question or f"{op} B is" in inst.question) == (
                f" {op} " in inst.question.split("?")[0]
            )


@pytest.mark.parametrize(
    ("output", "correct"),
    [
        (reply("True"), True),
        (reply("true"), True),
        (reply("**True**"), True),
        ("The expression evaluates to \\boxed{True}.", True),
        ("P AND Q is False, so the whole thing is True.", True),
        (reply("False"), False),
        (reply("False, not True"), False),
    ],
)
def test_scoring_formats(output: str, correct: bool) -> None:
    inst = TASK.instance(0, 0, "easy")
    inst = type(inst)(**{**inst.__dict__, "answer": "True"})
    assert TASK.score(inst, output).correct is correct
