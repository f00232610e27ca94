"""`if_words`: rules read back from the question with regexes written here; responses checked
with a word counter written here (whitespace tokens that hold a letter or digit)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.if_words import IfWordsTask

TASK = IfWordsTask()
LIMITS = {"easy": (5, 15, 1, 1), "medium": (10, 25, 2, 2), "hard": (20, 40, 3, 3)}


def rules(question: str) -> tuple[int, list[str], list[str], str | None]:
    count = int(re.search(r"exactly (\d+) words", question)[1])  # type: ignore[index]
    include = re.search(r"^- Include the words? (.*)$", question, re.M)[1]  # type: ignore[index]
    avoid = re.search(r"^- Do not use the words? (.*)$", question, re.M)[1]  # type: ignore[index]
    end = re.search(r'^- End with the word "(\w+)"', question, re.M)
    return count, re.findall(r'"(\w+)"', include), re.findall(r'"(\w+)"', avoid), end and end[1]


def words(text: str) -> list[str]:
    tokens = [t.strip(".,;:!?\"'()") for t in text.split()]
    return [t.lower() for t in tokens if re.search(r"[A-Za-z0-9]", t)]


def satisfies(question: str, response: str) -> bool:
    count, include, avoid, end = rules(question)
    got = words(response)
    return (
        len(got) == count
        and all(w in got for w in include)
        and not any(w in got for w in avoid)
        and (end is None or got[-1] == end)
    )


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert satisfies(inst.question, inst.answer), (inst.question, inst.answer)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_rules_fit_the_level_and_the_reference_keeps_them(difficulty: Difficulty) -> None:
    lo, hi, n_include, n_avoid = LIMITS[difficulty]
    for inst in batch("if_words", difficulty):
        count, include, avoid, end = rules(inst.question)
        assert lo <= count <= hi and len(include) == n_include and len(avoid) == n_avoid
        assert not set(include) & set(avoid)
        assert (end is not None) == (difficulty == "hard")
        assert satisfies(inst.question, inst.answer), (inst.question, inst.answer)
        assert TASK.score(inst, f"Answer: {inst.answer}").correct


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_scores_agree_with_an_independent_check(
    seed: int, index: int, difficulty: Difficulty
) -> None:
    inst = TASK.instance(seed, index, difficulty)
    _, include, avoid, _ = rules(inst.question)
    variants = [
        inst.answer,
        inst.answer.replace("I remember", "I remember well"),  # one word too many
        inst.answer.replace("I remember ", "I "),  # one word too few
        inst.answer.replace(include[0], "thing"),  # a required word missing
        inst.answer.replace("I remember", f"I {avoid[0]}"),  # a forbidden word used
        inst.answer.upper(),  # case does not matter
    ]
    for response in variants:
        assert TASK.score(inst, f"Answer: {response}").correct == satisfies(inst.question, response)


QUESTION = (
    "Write about a winter forest.\nRules:\n- Use exactly 6 words.\n"
    '- Include the words "owl" and "snow".\n- Do not use the word "cold".\n'
    "A word is a run of letters or digits; hyphenated words and contractions count as one word."
)


@pytest.mark.parametrize(
    ("output", "correct"),
    [
        ("Answer: An owl watched the snow fall.", True),
        ("Answer: **An owl watched the snow fall.**", True),
        ('Answer: "An owl watched the snow-covered snow."', True),  # snow-covered is one word
        ("<think>Answer: no.</think>\nAnswer: An owl watched the snow fall.", True),
        ("Answer: draft one.\nAnswer: An owl watched the snow fall.", True),  # the last label
        ("Answer: Here it is: An owl watched the snow fall.", False),  # chatter counts as words
        ("An owl watched the snow fall.", False),  # no 'Answer:': nothing to check
        ("Answer: An owl watched the cold snow.", False),
        ("Answer: An owl watched the falling flakes.", False),
        ("Answer: An owl watched the snow fall slowly.", False),
        ("Answer: An OWL didn't see SNOW fall.", True),
    ],
)
def test_scoring_formats(output: str, correct: bool) -> None:
    inst = TASK.instance(0, 0, "easy")
    inst = type(inst)(**{**inst.__dict__, "question": QUESTION})
    assert TASK.score(inst, output).correct is correct


def test_an_empty_response_is_an_extraction_failure() -> None:
    inst = TASK.instance(0, 0, "easy")
    for output in ("", "Answer:", "<think>draft</think>", "Answer: ***", "An owl watched."):
        score = TASK.score(inst, output)
        assert not score.correct and not score.extraction_ok, output
