"""`percent`: percentage word problems (discounts, taxes, growth, reverse percentages).

Every answer is exact: prices and percentages are drawn so that results have at most two decimal
places, and problems that would need rounding are never generated.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction

from gapbench.scoring.extract import grade_number
from gapbench.scoring.numbers import format_number
from gapbench.scoring.score import Score
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

ITEMS = ("jacket", "bicycle", "laptop", "lamp", "sofa", "camera", "backpack", "guitar", "tent",
         "watch", "printer", "kettle", "desk", "helmet", "blender")  # fmt: skip
PLACES = ("town", "village", "club", "school", "library", "orchard", "museum", "farm")
COUNTED = {
    "town": "residents", "village": "residents", "club": "members", "school": "students",
    "library": "books", "orchard": "trees", "museum": "visitors", "farm": "sheep",
}  # fmt: skip


def _money(value: Fraction) -> str:
    """'$86.40' or '$120': cents shown only when there are any."""
    if value.denominator == 1:
        return f"${value.numerator:,}"
    return f"${float(value):,.2f}"


def _of(rng: random.Random, big: bool) -> tuple[str, str, str]:
    """'What is p% of n?': a whole-number answer, or (big) up to two decimal places."""
    p = rng.randrange(5, 100, 5) if not big else rng.randint(1, 99)
    n = rng.randrange(20, 3000, 20) if not big else rng.randint(20, 5000)
    value = Fraction(p * n, 100)
    ans = format_number(value)
    return f"What is {p}% of {n:,}?", ans, f"{n} × {p}/100 = {ans}."


def _what_percent(rng: random.Random) -> tuple[str, str, str]:
    """'a is what percent of b?' with a whole-number answer."""
    b = rng.randrange(20, 3000, 20)
    p = rng.randrange(5, 100, 5)
    a = b * p // 100
    return f"{a} is what percent of {b}?", str(p), f"{a} / {b} × 100 = {p}."


def _one_change(rng: random.Random) -> tuple[str, str, str]:
    """A price after one discount or increase."""
    item, price, p = rng.choice(ITEMS), rng.randint(10, 500), rng.randint(1, 60)
    up = rng.random() < 0.5
    new = Fraction(price * (100 + (p if up else -p)), 100)
    ans = format_number(new)
    if up:
        q = f"A {item} costs ${price}. Its price goes up by {p}%."
        q += " What is the new price in dollars?"
    else:
        q = f"A {item} costs ${price} and is on sale for {p}% off."
        q += " What is the sale price in dollars?"
    return q, ans, f"{price} × {100 + (p if up else -p)}/100 = {ans}."


def _reverse(rng: random.Random) -> tuple[str, str, str]:
    """The original price before a known discount or increase."""
    item, original, p = rng.choice(ITEMS), rng.randint(10, 800), rng.randrange(5, 80, 5)
    up = rng.random() < 0.5
    factor = 100 + (p if up else -p)
    shown = Fraction(original * factor, 100)
    change = f"a {p}% price increase" if up else f"a {p}% discount"
    q = (f"After {change}, a {item} costs {_money(shown)}. "
         "What was its price in dollars before the change?")  # fmt: skip
    return q, str(original), f"{format_number(shown)} × 100/{factor} = {original}."


def _growth(rng: random.Random) -> tuple[str, str, str]:
    """By what percent a count grew or shrank, with a whole-number answer."""
    place = rng.choice(PLACES)
    start = rng.randrange(100, 20000, 100)
    p = rng.randint(1, 90)
    up = rng.random() < 0.5
    end = start * (100 + (p if up else -p)) // 100
    years = rng.randint(2, 9)
    direction = "increase" if up else "decrease"
    q = (f"A {place} had {start:,} {COUNTED[place]}. {years} years later it has {end:,}. "
         f"By what percent did the number of {COUNTED[place]} {direction}?")  # fmt: skip
    return q, str(p), f"|{end} - {start}| / {start} × 100 = {p}."


def _two_changes(rng: random.Random) -> tuple[str, str, str]:
    """A price after two successive changes (discount then tax, or up then down)."""
    item = rng.choice(ITEMS)
    price = rng.randrange(20, 2000, 4)  # a multiple of 4 keeps the result to whole cents
    p, q_ = rng.randrange(5, 60, 5), rng.randrange(5, 30, 5)
    if rng.random() < 0.5:
        factors, text = (
            (100 - p, 100 + q_),
            f"is discounted by {p}%, and then a {q_}% sales tax is added to the discounted price",
        )
    else:
        factors, text = (
            (100 + p, 100 - q_),
            f"goes up by {p}%, and later the new price is cut by {q_}%",
        )
    value = Fraction(price * factors[0] * factors[1], 10_000)
    ans = format_number(value)
    question = f"A {item} costs ${price:,}. Its price {text}. What is the final price in dollars?"
    return question, ans, f"{price} × {factors[0]}/100 × {factors[1]}/100 = {ans}."


KINDS: dict[Difficulty, tuple[Callable[[random.Random], tuple[str, str, str]], ...]] = {
    "easy": (lambda r: _of(r, False), _what_percent, _one_change),
    "medium": (lambda r: _of(r, True), _one_change, _reverse, _growth),
    "hard": (_two_changes, _reverse, _growth),
}


class PercentTask(GeneratedTask):
    """Percentages: parts and discounts (easy), reverse and growth (medium), chains (hard)."""

    name = "percent"
    version = "1"
    area = "math"
    language = "en"
    description = "Percentage word problems: discounts, taxes, growth rates, reverse percentages."
    answer_format: str | None = "an exact number, not rounded"
    instruction = (
        "Solve the problem step by step, then end your reply with a final line of the form "
        "'Answer: <number>' (exact, not rounded)."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """One problem of a kind drawn for the level."""
        question, answer, work = rng.choice(KINDS[difficulty])(rng)
        return Built(question, answer, f"{work} Answer: {answer}")

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the extracted number equals the reference exactly ('$86.40' = 86.4)."""
        return grade_number(instance.answer, output)
