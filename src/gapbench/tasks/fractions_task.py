"""`fractions`: exact arithmetic on fractions. "Calculate (3/4 + 5/6) × 2/3."

Expressions are trees of +, -, ×, ÷ over fractions; the answer is computed with Python's exact
`Fraction`. A fraction right after ÷ is written in parentheses, since '÷ 2/3' reads two ways.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction

from gapbench.scoring.extract import grade_number
from gapbench.scoring.score import Score
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "×": lambda a, b: a * b,
       "÷": lambda a, b: a / b}  # fmt: skip


@dataclass(frozen=True)
class Level:
    """Largest denominator, and the operators a level may use."""

    max_den: int
    ops: str


LEVELS: dict[Difficulty, Level] = {
    "easy": Level(12, "+-"),
    "medium": Level(12, "+-×÷"),
    "hard": Level(20, "+-×÷"),
}


def fraction_text(value: Fraction) -> str:
    """'19/12', '-1/6' or a whole number '3'."""
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def _random_fraction(rng: random.Random, max_den: int) -> Fraction:
    """A reduced, non-whole fraction n/d with 2 <= d <= max_den and 0 < n < 2d."""
    while True:
        den = rng.randint(2, max_den)
        num = rng.randint(1, 2 * den - 1)
        if math.gcd(num, den) == 1:
            return Fraction(num, den)


@dataclass(frozen=True)
class Node:
    """A leaf (value only) or a binary operation over two sub-expressions."""

    value: Fraction
    text: str
    is_leaf: bool
    steps: tuple[str, ...] = ()


def _leaf(rng: random.Random, max_den: int) -> Node:
    value = _random_fraction(rng, max_den)
    return Node(value, fraction_text(value), True)


def _combine(rng: random.Random, left: Node, right: Node, ops: str) -> Node:
    choices = [op for op in ops if not (op == "÷" and right.value == 0)]
    op = rng.choice(choices)
    value = OPS[op](left.value, right.value)
    # Compound operands need parentheses; a lone fraction after ÷ does too (see module doc).
    lhs = left.text if left.is_leaf else f"({left.text})"
    rhs = right.text if (right.is_leaf and op != "÷") else f"({right.text})"
    step = (
        f"{fraction_text(left.value)} {op} {fraction_text(right.value)} = {fraction_text(value)}."
    )
    return Node(value, f"{lhs} {op} {rhs}", False, (*left.steps, *right.steps, step))


def make_expression(rng: random.Random, difficulty: Difficulty) -> Node:
    """easy: a ∘ b; medium: (a ∘ b) ∘ c or a ∘ (b ∘ c); hard: (a ∘ b) ∘ (c ∘ d)."""
    lv = LEVELS[difficulty]
    a, b = _leaf(rng, lv.max_den), _leaf(rng, lv.max_den)
    if difficulty == "easy":
        return _combine(rng, a, b, lv.ops)
    if difficulty == "medium":
        c = _leaf(rng, lv.max_den)
        if rng.random() < 0.5:
            return _combine(rng, _combine(rng, a, b, lv.ops), c, lv.ops)
        return _combine(rng, c, _combine(rng, a, b, lv.ops), lv.ops)
    left = _combine(rng, a, b, lv.ops)
    right = _combine(rng, _leaf(rng, lv.max_den), _leaf(rng, lv.max_den), lv.ops)
    return _combine(rng, left, right, lv.ops)


class FractionsTask(GeneratedTask):
    """Exact fraction arithmetic: one operation (easy), two (medium), three (hard)."""

    name = "fractions"
    version = "1"
    area = "math"
    language = "en"
    description = "Exact arithmetic with fractions (+ - × ÷, parentheses); answers in lowest terms."
    answer_format: str | None = "a fraction in lowest terms, like 7/12, or a whole number"
    instruction = (
        "Work it out step by step, then end your reply with a final line of the form "
        "'Answer: <fraction in lowest terms, like 7/12, or a whole number>'."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A random expression and its exact value."""
        expr = make_expression(rng, difficulty)
        answer = fraction_text(expr.value)
        question = f"Calculate {expr.text}."
        return Built(question, answer, " ".join([*expr.steps, f"Answer: {answer}"]))

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the extracted number equals the reference exactly (7/12, 14/24 and an
        exact decimal such as 0.75 for 3/4 all count: the family tests arithmetic, not form)."""
        return grade_number(instance.answer, output)
