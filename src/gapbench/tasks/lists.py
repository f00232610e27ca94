"""`lists`: follow a sequence of list operations and give the final list.

"Start with the list [3, 8, 1, 5]. First, reverse the list. Then, remove every even number. ..."
Steps that would empty the list or do nothing (removing a value that is absent) are never drawn.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gapbench.scoring.score import Score
from gapbench.scoring.structured import format_int_list, read_answer, read_int_list
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

Values = list[int]


@dataclass(frozen=True)
class Step:
    """One operation: its wording and its effect."""

    text: str
    apply: Callable[[Values], Values]


def _dedupe(xs: Values) -> Values:
    return list(dict.fromkeys(xs))


def _remove_first(xs: Values, k: int) -> Values:
    ys = list(xs)
    ys.remove(k)
    return ys


def _candidates(rng: random.Random, xs: Values, allowed: str) -> list[Step]:
    """Every step in `allowed` (a string of op codes) that is valid for `xs`.

    Each number a step's lambda uses has its own name: the lambdas close over variables, not
    values, so reusing a name would silently change an earlier step.
    """
    n, k = len(xs), rng.randint(1, 9)
    steps: list[Step] = []
    if "r" in allowed:
        steps.append(Step("reverse the list", lambda v: v[::-1]))
    if "s" in allowed:
        steps.append(Step("sort it in ascending order", sorted))
        steps.append(Step("sort it in descending order", lambda v: sorted(v, reverse=True)))
    if "a" in allowed:
        steps.append(Step(f"append {k} to the end", lambda v: [*v, k]))
        steps.append(Step(f"insert {k} at the beginning", lambda v: [k, *v]))
    if "x" in allowed and n > 1:
        target = rng.choice(xs)
        steps.append(
            Step(f"remove the first occurrence of {target}", lambda v: _remove_first(v, target))
        )
    if "+" in allowed:
        steps.append(Step(f"add {k} to every element", lambda v: [x + k for x in v]))
    if "*" in allowed:
        m = rng.randint(2, 4)
        steps.append(Step(f"multiply every element by {m}", lambda v: [x * m for x in v]))
    if "e" in allowed:
        if any(x % 2 for x in xs):
            steps.append(Step("remove every even number", lambda v: [x for x in v if x % 2]))
        if any(x % 2 == 0 for x in xs):
            steps.append(Step("remove every odd number", lambda v: [x for x in v if x % 2 == 0]))
    if "t" in allowed and n > 1:
        cut = rng.randint(1, n - 1)
        steps.append(Step(f"keep only the first {cut} elements", lambda v: v[:cut]))
        steps.append(Step(f"remove the first {cut} elements", lambda v: v[cut:]))
    if "o" in allowed and n > 2:
        turn = rng.randint(1, n - 1)
        steps.append(
            Step(
                f"rotate the list left by {turn} (the first {turn} elements move to the end, "
                "in order)",
                lambda v: v[turn:] + v[:turn],
            )
        )
    if "w" in allowed and n > 1:
        steps.append(Step("swap the first and last elements", lambda v: [v[-1], *v[1:-1], v[0]]))
    if "d" in allowed and len(set(xs)) < n:
        steps.append(Step("remove duplicates, keeping the first occurrence of each value", _dedupe))
    return steps


@dataclass(frozen=True)
class Level:
    """List length, value range, number of steps and the operation codes allowed."""

    length: tuple[int, int]
    values: tuple[int, int]
    steps: tuple[int, int]
    ops: str


LEVELS: dict[Difficulty, Level] = {
    "easy": Level((4, 5), (0, 9), (2, 2), "rsax+"),
    "medium": Level((5, 7), (0, 20), (3, 4), "rsax+etow"),
    "hard": Level((7, 9), (-20, 40), (5, 6), "rsax+*etowd"),
}


def plan(rng: random.Random, difficulty: Difficulty) -> tuple[Values, list[Step], list[Values]]:
    """The start list, the steps, and the list after each step."""
    lv = LEVELS[difficulty]
    start = [rng.randint(*lv.values) for _ in range(rng.randint(*lv.length))]
    xs, steps, states = start, [], []
    for _ in range(rng.randint(*lv.steps)):
        step = rng.choice(_candidates(rng, xs, lv.ops))
        xs = step.apply(xs)
        steps.append(step)
        states.append(xs)
    return start, steps, states


def render(start: Sequence[int], steps: Sequence[Step]) -> str:
    """'Start with the list [...]. First, .... Then, .... What is the final list?'"""
    sentences = [f"Start with the list {format_int_list(start)}."]
    for i, step in enumerate(steps):
        sentences.append(f"{'First' if i == 0 else 'Then'}, {step.text}.")
    sentences.append("What is the final list?")
    return " ".join(sentences)


class ListsTask(GeneratedTask):
    """List manipulation: 2 simple steps (easy), 3-4 (medium), 5-6 with more kinds (hard)."""

    name = "lists"
    version = "1"
    area = "logic"
    language = "en"
    description = "Follow list operations (sort, reverse, filter, slice, rotate, ...) step by step."
    answer_format: str | None = "a list of integers, like [3, 1, 2]"
    instruction = (
        "Apply the steps one at a time, then end your reply with a final line of the form "
        "'Answer: [a, b, c, ...]'."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A start list, its steps, and the final list."""
        start, steps, states = plan(rng, difficulty)
        answer = format_int_list(states[-1])
        work = " ".join(
            f"After '{s.text}': {format_int_list(v)}." for s, v in zip(steps, states, strict=True)
        )
        return Built(render(start, steps), answer, f"{work} Answer: {answer}")

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the extracted list equals the reference element by element, in order."""
        expected = read_int_list(instance.answer)
        got, method = read_answer(output, read_int_list)
        extracted = None if got is None else format_int_list(got)
        return Score(got is not None and got == expected, extracted, got is not None, method)
