"""`logic`: each puzzle is re-solved by brute force over every ranking, from its text alone."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.logic import NAMES, LogicTask

TASK = LogicTask()
MORE = (
    "is taller than",
    "is older than",
    "finished ahead of",
    "is heavier than",
    "scored higher than",
)
LESS = (
    "is shorter than",
    "is younger than",
    "finished behind",
    "is lighter than",
    "scored lower than",
)
TOP = ("tallest", "oldest", "fastest runner", "heaviest", "highest scorer")
BOTTOM = ("shortest", "youngest", "slowest runner", "lightest", "lowest scorer")
ORDINALS = {"": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7}
PEOPLE = {"easy": 3, "medium": 5, "hard": 7}


def parse(question: str) -> tuple[list[str], list[tuple[str, str]], int, bool]:
    """(people, clues as (higher, lower), asked position 1-based, counted from the top?)."""
    listing = re.search(r"They are ([A-Za-z, ]+) and ([A-Za-z]+)\.", question)
    assert listing is not None
    people = [*listing.group(1).split(", "), listing.group(2)]
    clues = []
    for sentence in re.split(r"(?<=\.) ", question)[2:-1]:  # after intro and listing
        first, *words, second = sentence.removesuffix(".").split(" ")
        assert first in people and second in people, sentence
        relation = " ".join(words)
        assert relation in MORE + LESS, sentence
        clues.append((first, second) if relation in MORE else (second, first))
    ask = re.search(r"Who is the (?:(\w+) )?(\w+(?: runner| scorer)?)\?$", question)
    assert ask is not None, question
    ordinal, word = ask.group(1) or "", ask.group(2)
    if ordinal not in ORDINALS:  # "the fastest runner": the first word is part of the superlative
        ordinal, word = "", f"{ordinal} {word}"
    assert word in TOP + BOTTOM, word
    return people, clues, ORDINALS[ordinal], word in TOP


def brute_force(question: str) -> set[str]:
    """Everyone who stands at the asked position in some ranking that satisfies every clue."""
    people, clues, position, from_top = parse(question)
    found = set()
    for ranking in itertools.permutations(people):  # ranking[0] is the top
        place = {name: i for i, name in enumerate(ranking)}
        if all(place[hi] < place[lo] for hi, lo in clues):
            found.add(ranking[position - 1] if from_top else ranking[-position])
    return found


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert brute_force(inst.question) == {inst.answer}, inst.question


@pytest.mark.parametrize(("difficulty", "count"), [("easy", 400), ("medium", 300), ("hard", 120)])
def test_answer_is_unique_and_right(difficulty: Difficulty, count: int) -> None:
    for index in range(count):
        inst = TASK.instance(11, index, difficulty)
        assert brute_force(inst.question) == {inst.answer}, inst.question
        assert len(parse(inst.question)[0]) == PEOPLE[difficulty]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answer_is_unique_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert brute_force(inst.question) == {inst.answer}


def test_harder_levels_carry_redundant_clues() -> None:
    """A clue is redundant when the puzzle stays uniquely solvable without it."""

    def redundant_share(difficulty: Difficulty, count: int) -> float:
        redundant = total = 0
        for index in range(count):
            question = TASK.instance(2, index, difficulty).question
            clue_sentences = [
                s for s in re.split(r"(?<=\.) ", question) if any(r in s for r in MORE + LESS)
            ]
            for sentence in clue_sentences:
                total += 1
                redundant += len(brute_force(question.replace(sentence + " ", ""))) == 1
        return redundant / total

    assert redundant_share("easy", 60) == 0
    assert redundant_share("medium", 40) > 0.1
    assert redundant_share("hard", 8) > 0.1


def test_instances_are_deterministic() -> None:
    assert TASK.instance(3, 14, "hard") == TASK.instance(3, 14, "hard")
    assert TASK.instance(3, 14, "hard") != TASK.instance(3, 15, "hard")


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_instances_are_varied(difficulty: Difficulty) -> None:
    questions = {TASK.instance(0, i, difficulty).question for i in range(1200)}
    assert len(questions) >= 1000


def test_fewshot_solutions_end_with_the_brute_force_answer() -> None:
    for ex in TASK.fewshot(0, "medium", 5):
        (answer,) = brute_force(ex.question)
        assert ex.solution.endswith(f"Answer: {answer}")


def test_names_are_not_everyday_words() -> None:
    assert len(set(NAMES)) == len(NAMES) >= 7
    assert all(name.istitle() and name.isalpha() for name in NAMES)


def test_score_reads_names_case_insensitively() -> None:
    inst = TASK.instance(0, 1, "medium")
    other = next(n for n in NAMES if n != inst.answer)
    assert TASK.score(inst, f"Answer: {inst.answer.lower()}").correct
    assert TASK.score(inst, f"**Answer:** {inst.answer}").correct
    assert TASK.score(inst, f"<think>{other}?</think>So it must be {inst.answer}.").correct
    wrong = TASK.score(inst, f"Answer: {other}")
    assert not wrong.correct and wrong.extraction_ok
    missing = TASK.score(inst, "I cannot tell.")
    assert not missing.correct and not missing.extraction_ok


def test_chat_prompt_asks_for_a_name() -> None:
    inst = TASK.instance(0, 0, "easy")
    assert TASK.chat_prompt(inst).startswith(inst.question)
    assert "Answer: <name>" in TASK.chat_prompt(inst)
