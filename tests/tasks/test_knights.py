"""`knights`: every puzzle re-solved by reading the statements back from the text and trying all
2**n assignments of knights and knaves."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch, reply

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.knights import KnightsTask

TASK = KnightsTask()
PEOPLE = {"easy": 2, "medium": 3, "hard": 4}
COUNTS = {"None": 0, "Exactly one": 1, "Exactly two": 2, "Exactly three": 3, "All four": 4}
Claim = Callable[[dict[str, bool]], bool]


def claim(text: str, speaker: str) -> Claim:
    """What a statement asserts, as a predicate over {name: is_knight}."""

    def who(ref: str) -> str:
        return speaker if ref in ("I", "me") else ref

    if m := re.fullmatch(r"(\w+) is a (knight|knave)\.", text):
        name, kind = m[1], m[2] == "knight"
        return lambda k: k[name] == kind
    if m := re.fullmatch(r"(\w+) and (\w+) are both (knight|knave)s\.", text):
        a, b, kind = who(m[1]), who(m[2]), m[3] == "knight"
        return lambda k: k[a] == kind and k[b] == kind
    if m := re.fullmatch(r"At least one of (\w+) and (\w+) is a knight\.", text):
        a, b = who(m[1]), who(m[2])
        return lambda k: k[a] or k[b]
    if m := re.fullmatch(r"(\w+) and (\w+) are the same kind\.", text):
        a, b = who(m[1]), who(m[2])
        return lambda k: k[a] == k[b]
    if m := re.fullmatch(r"(\w+) and (\w+) are different kinds\.", text):
        a, b = who(m[1]), who(m[2])
        return lambda k: k[a] != k[b]
    if m := re.fullmatch(
        r"(None|Exactly one|Exactly two|Exactly three|All four) of us (is a knight|are knights)\.",
        text,
    ):
        n = COUNTS[m[1]]
        return lambda k: sum(k.values()) == n
    m = re.fullmatch(r"If (\w+) (?:is|am) a knight, then (\w+) (?:is|am) a knight\.", text)
    assert m, f"unknown statement {text!r}"
    a, b = who(m[1]), who(m[2])
    return lambda k: (not k[a]) or k[b]


def solve(question: str) -> tuple[list[str], set[str]]:
    """(islanders, the set of knights) from the text alone; asserts the solution is unique."""
    met = re.search(r"You meet (.+?)\. ", question)
    assert met, question
    names = re.split(r", | and ", met[1])
    claims = [(s, claim(t, s)) for s, t in re.findall(r'(\w+) says: "([^"]+)"', question)]
    assert sorted(s for s, _ in claims) == sorted(names), "everyone speaks exactly once"
    solutions = []
    for values in itertools.product((True, False), repeat=len(names)):
        kinds = dict(zip(names, values, strict=True))
        if all(c(kinds) == kinds[s] for s, c in claims):
            solutions.append({n for n in names if kinds[n]})
    assert len(solutions) == 1, f"{len(solutions)} solutions: {question}"
    return names, solutions[0]


def answer_set(answer: str) -> set[str]:
    return set() if answer == "none" else set(answer.split(", "))


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert answer_set(inst.answer) == solve(inst.question)[1], inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_every_puzzle_has_exactly_the_reference_solution(difficulty: Difficulty) -> None:
    for inst in batch("knights", difficulty):
        names, knights = solve(inst.question)
        assert len(names) == PEOPLE[difficulty]
        assert answer_set(inst.answer) == knights, inst.question


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_solutions_are_unique_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert answer_set(inst.answer) == solve(inst.question)[1]


def test_answers_vary_from_none_to_everyone() -> None:
    sizes = {len(answer_set(inst.answer)) for inst in batch("knights", "hard")}
    assert sizes == {0, 1, 2, 3, 4}


QUESTION = (
    "On an island, every inhabitant is either a knight, who always tells the truth, or a knave, "
    'who always lies. You meet Alice, Bruno and Chloe. Alice says: "Bruno is a knave." Bruno '
    'says: "Alice and Chloe are different kinds." Chloe says: "Bruno is a knave." '
    "Which of them are knights?"
)


@pytest.mark.parametrize(
    ("output", "correct"),
    [
        (reply("Alice, Chloe"), True),
        (reply("Chloe and Alice"), True),
        (reply("alice, chloe"), True),
        ("**Answer:** Alice, Chloe (Bruno is a knave)", True),
        (reply("Alice and Chloe are knights; Bruno is a knave."), True),
        ("So the knights are:\n\nAnswer:\nAlice, Chloe", True),
        (reply("Alice"), False),
        (reply("Alice, Bruno, Chloe"), False),
        (reply("none"), False),
    ],
)
def test_scoring_formats(output: str, correct: bool) -> None:
    inst = TASK.instance(0, 0, "medium")
    inst = type(inst)(**{**inst.__dict__, "question": QUESTION, "answer": "Alice, Chloe"})
    assert solve(QUESTION)[1] == {"Alice", "Chloe"}  # the fixture itself is right
    assert TASK.score(inst, output).correct is correct


def test_none_is_read_as_no_knights() -> None:
    inst = TASK.instance(0, 0, "medium")
    inst = type(inst)(**{**inst.__dict__, "answer": "none"})
    for text in ("none", "None of them.", "No one", "nobody is a knight"):
        assert TASK.score(inst, reply(text)).correct, text
    assert not TASK.score(inst, reply("Alice")).correct
    assert not TASK.score(inst, reply("I cannot tell")).extraction_ok
