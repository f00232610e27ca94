"""`lists`: every final list recomputed by reading the steps back from the question."""

from __future__ import annotations

import ast
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch, reply

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.lists import ListsTask

TASK = ListsTask()
STEPS = {"easy": (2, 2), "medium": (3, 4), "hard": (5, 6)}


def apply(step: str, xs: list[int]) -> list[int]:
    """One step, from its English wording."""
    if step == "reverse the list":
        return list(reversed(xs))
    if step.startswith("sort it in"):
        return sorted(xs, reverse="descending" in step)
    if m := re.fullmatch(r"append (\d+) to the end", step):
        return [*xs, int(m[1])]
    if m := re.fullmatch(r"insert (\d+) at the beginning", step):
        return [int(m[1]), *xs]
    if m := re.fullmatch(r"remove the first occurrence of (-?\d+)", step):
        i = xs.index(int(m[1]))
        return xs[:i] + xs[i + 1 :]
    if m := re.fullmatch(r"add (\d+) to every element", step):
        return [x + int(m[1]) for x in xs]
    if m := re.fullmatch(r"multiply every element by (\d+)", step):
        return [x * int(m[1]) for x in xs]
    if m := re.fullmatch(r"remove every (even|odd) number", step):
        keep_odd = m[1] == "even"
        return [x for x in xs if (x % 2 == 1) == keep_odd]
    if m := re.fullmatch(r"keep only the first (\d+) elements", step):
        return xs[: int(m[1])]
    if m := re.fullmatch(r"remove the first (\d+) elements", step):
        return xs[int(m[1]) :]
    if m := re.fullmatch(r"rotate the list left by (\d+) \(.*\)", step):
        k = int(m[1])
        return xs[k:] + xs[:k]
    if step == "swap the first and last elements":
        return [xs[-1], *xs[1:-1], xs[0]] if len(xs) > 1 else xs
    assert step == "remove duplicates, keeping the first occurrence of each value", step
    seen: list[int] = []
    for x in xs:
        if x not in seen:
            seen.append(x)
    return seen


def solve(question: str) -> tuple[list[int], int]:
    m = re.fullmatch(r"Start with the list (\[[^\]]*\])\. (.*) What is the final list\?", question)
    assert m, question
    xs = list(ast.literal_eval(m[1]))
    steps = re.findall(r"(?:First|Then), (.+?)\.(?= First,| Then,|$)", m[2])
    for step in steps:
        xs = apply(step, xs)
        assert xs, "no step empties the list"
    return xs, len(steps)


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert ast.literal_eval(inst.answer) == solve(inst.question)[0], inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_the_steps(difficulty: Difficulty) -> None:
    for inst in batch("lists", difficulty):
        final, steps = solve(inst.question)
        assert ast.literal_eval(inst.answer) == final, inst.question
        assert STEPS[difficulty][0] <= steps <= STEPS[difficulty][1]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert ast.literal_eval(inst.answer) == solve(inst.question)[0]


@pytest.mark.parametrize(
    ("output", "correct"),
    [
        (reply("[7, -5, 3]"), True),
        (reply("[7,-5,3]"), True),
        (reply("7, -5, 3"), True),
        ("The final list is `[7, -5, 3]`.", True),
        ("Step 1: [3, -5, 7]\nStep 2: [7, -5, 3]", True),  # the last line holds the list
        (reply("[3, -5, 7]"), False),
        (reply("[7, -5, 3, 0]"), False),
        (reply("[7, 5, 3]"), False),
    ],
)
def test_scoring_formats(output: str, correct: bool) -> None:
    inst = TASK.instance(0, 0, "easy")
    inst = type(inst)(**{**inst.__dict__, "answer": "[7, -5, 3]"})
    assert TASK.score(inst, output).correct is correct


def test_an_answer_line_without_a_list_is_unreadable() -> None:
    inst = TASK.instance(0, 0, "easy")
    score = TASK.score(inst, "Earlier: [1, 2]\nAnswer: I am not sure")
    assert not score.extraction_ok and score.method == "answer-line-unreadable"
