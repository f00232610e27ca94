"""`arith`: every answer is recomputed by reading the question text, not from the generator."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gapbench.tasks.arith import ArithTask
from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance, Task

TASK = ArithTask()
STEPS = {"easy": (2, 2), "medium": (3, 4), "hard": (5, 6)}

# What each sentence does to the quantity, read from its words. Every sentence must match exactly
# one rule, so an ambiguous template fails the test instead of being guessed.
MULTIPLY = [r"times as (many|much|large)", r"multiplies .* by"]
DIVIDE = [r"equally", r"equal groups", r"divides .* by"]
GROUP_GAIN = [
    r"works \S+ hours", r"sells \S+ old books", r"bakes \S+ trays", r"buys \S+ boxes of books",
    r"buys \S+ packs", r"buckets .* poured in", r"tour groups .* get on", r"hens each lay",
    r"completes \S+ levels",
]  # fmt: skip
GROUP_LOSS = [
    r"buys \S+ (notebooks|bus passes|power-ups)", r"customers each buy", r"classes each borrow",
    r"gives \S+ stickers to each of", r"people each take", r"families .* get off",
    r"sells \S+ cartons",
]  # fmt: skip
GAIN = [
    r"earns", r"gives (her|him|the farmer) ", r"finds", r"bakes \S+ more", r"brings",
    r"receives", r"return", r"gets \S+ stickers", r"wins", r"flow in", r"pumps in",
    r"people get on", r"board", r"lay \S+ more", r"collects",
]  # fmt: skip
LOSS = [
    r"spends", r"pays", r"customers buy", r"eat", r"thrown away", r"students borrow",
    r"to (her|his) cousin", r"loses", r"used to", r"leak", r"people get off", r"leave",
    r"break", r"cooks",
]  # fmt: skip


def _numbers(sentence: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\d|\d", sentence)]


def solve(question: str) -> tuple[int, int]:
    """(answer, number of steps), computed from the English text alone."""
    first, *steps, ask = re.split(r"(?<=[.?])\s+", question)
    assert ask.startswith("How many") and ask.endswith("?")
    (x,) = _numbers(first)
    for sentence in steps:
        lowered = sentence.lower()
        rules = {
            name: [p for p in patterns if re.search(p, lowered)]
            for name, patterns in [
                ("mul", MULTIPLY), ("div", DIVIDE), ("group_gain", GROUP_GAIN),
                ("group_loss", GROUP_LOSS), ("gain", GAIN), ("loss", LOSS),
            ]
        }  # fmt: skip
        hit = [name for name, found in rules.items() if found]
        assert len(hit) == 1, f"sentence {sentence!r} matches {rules}"
        nums = _numbers(sentence)
        kind = hit[0]
        if kind == "mul":
            x *= nums[0]
        elif kind == "div":
            assert x % nums[0] == 0, f"{x} does not split into {nums[0]} equal parts"
            x //= nums[0]
        elif kind in ("group_gain", "group_loss"):
            a, b = nums
            x += a * b if kind == "group_gain" else -a * b
        else:
            (a,) = nums
            x += a if kind == "gain" else -a
        assert x > 0, f"the quantity went to {x} in {question!r}"
    return x, len(steps)


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert inst.answer == str(solve(inst.question)[0]), inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_the_text(difficulty: Difficulty) -> None:
    lo, hi = STEPS[difficulty]
    for index in range(300):
        inst = TASK.instance(7, index, difficulty)
        answer, steps = solve(inst.question)
        assert inst.answer == str(answer), inst.question
        assert lo <= steps <= hi


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_the_text_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert inst.answer == str(solve(inst.question)[0])


def test_instances_are_deterministic() -> None:
    assert TASK.instance(3, 14, "hard") == TASK.instance(3, 14, "hard")
    assert TASK.instance(3, 14, "hard") != TASK.instance(3, 15, "hard")
    assert TASK.instance(3, 14, "hard") != TASK.instance(4, 14, "hard")


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_instances_are_varied(difficulty: Difficulty) -> None:
    questions = {TASK.instance(0, i, difficulty).question for i in range(1200)}
    assert len(questions) >= 1000
    openings = {q.split(".")[0].split(" has ")[0] for q in questions}
    assert len(openings) >= 6  # at least six scenarios in use


def test_harder_levels_use_bigger_numbers() -> None:
    def mean_answer(difficulty: Difficulty) -> float:
        return sum(int(TASK.instance(0, i, difficulty).answer) for i in range(300)) / 300

    assert mean_answer("easy") < mean_answer("medium") < mean_answer("hard")


def test_fewshot_examples_are_worked_and_correct() -> None:
    examples = TASK.fewshot(0, "medium", 5)
    assert len(examples) == 5
    for ex in examples:
        assert ex.solution.endswith(f"Answer: {solve(ex.question)[0]}")
    evaluated = {TASK.instance(0, i, "medium").question for i in range(1000)}
    assert not evaluated & {ex.question for ex in TASK.fewshot(0, "medium", 200)}
    assert TASK.fewshot(0, "medium", 3) == examples[:3]


def test_chat_prompt_asks_for_the_answer_line() -> None:
    inst = TASK.instance(0, 0, "easy")
    prompt = TASK.chat_prompt(inst)
    assert prompt.startswith(inst.question) and "Answer: <number>" in prompt


@pytest.mark.parametrize(
    "template",
    [
        "Answer: {n}",
        "Step by step... so the total is {n}.",
        "**Final Answer:** ${c}",
        "<think>maybe 3</think>The answer is {c} dollars.",
        "\\boxed{{{n}}}",
        "Answer: {n}.0",
    ],
)
def test_score_accepts_correct_answers(template: str) -> None:
    task: Task = TASK
    for i in range(20):
        inst = task.instance(1, i, "hard")
        output = template.format(n=inst.answer, c=f"{int(inst.answer):,}")
        score = task.score(inst, output)
        assert score.correct and score.extraction_ok, output


def test_score_rejects_wrong_and_missing_answers() -> None:
    inst = TASK.instance(1, 0, "medium")
    wrong = TASK.score(inst, f"Answer: {int(inst.answer) + 1}")
    assert not wrong.correct and wrong.extraction_ok
    missing = TASK.score(inst, "I am not sure.")
    assert not missing.correct and not missing.extraction_ok
