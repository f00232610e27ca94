"""`modular`: residues recomputed with Python's % and pow; congruences solved by brute force."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch, reply

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.modular import ModularTask

TASK = ModularTask()


def solve(question: str) -> int:
    if m := re.fullmatch(r"What is the remainder when (\d+) is divided by (\d+)\?", question):
        return int(m[1]) % int(m[2])
    if m := re.fullmatch(r"What is (\d+) mod (\d+)\?", question):
        return int(m[1]) % int(m[2])
    if m := re.fullmatch(r"What is \((\d+) × (\d+) \+ (\d+)\) mod (\d+)\?", question):
        return (int(m[1]) * int(m[2]) + int(m[3])) % int(m[4])
    if m := re.fullmatch(r"What is (\d+)\^(\d+) mod (\d+)\?", question):
        value: int = int(m[1]) ** int(m[2]) % int(m[3])  # the slow way: independent of pow
        return value
    m = re.fullmatch(
        r"Find the integer x with 0 ≤ x < (\d+) such that (\d+)x ≡ (\d+) \(mod (\d+)\)\.", question
    )
    assert m and m[1] == m[4], question
    modulus, a, b = int(m[1]), int(m[2]), int(m[3])
    (x,) = [x for x in range(modulus) if (a * x - b) % modulus == 0]  # exactly one solution
    return x


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert inst.answer == str(solve(inst.question)), inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_the_text(difficulty: Difficulty) -> None:
    for inst in batch("modular", difficulty):
        assert inst.answer == str(solve(inst.question)), inst.question


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert inst.answer == str(solve(inst.question))


def test_hard_mixes_powers_and_congruences() -> None:
    questions = [inst.question for inst in batch("modular", "hard")]
    powers = sum("^" in q for q in questions)
    assert 0.3 < powers / len(questions) < 0.7


@pytest.mark.parametrize(
    ("output", "correct"),
    [
        (reply("5"), True),
        (reply("x = 5"), True),
        (reply("x ≡ 5 (mod 13)"), True),
        ("So the remainder is 5.", True),
        (reply("18"), False),  # congruent, but not the least residue asked for
        (reply("6"), False),
    ],
)
def test_scoring_formats(output: str, correct: bool) -> None:
    inst = TASK.instance(0, 0, "hard")
    inst = type(inst)(**{**inst.__dict__, "answer": "5"})
    assert TASK.score(inst, output).correct is correct
