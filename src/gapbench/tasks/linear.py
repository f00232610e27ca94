"""`linear`: linear equations in one unknown, and systems of two, with integer solutions.

The solution is drawn first and the equations are built around it, so answers are exact integers.
"""

from __future__ import annotations

import random

from gapbench.scoring.extract import grade_number
from gapbench.scoring.score import Score
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask


def term(coef: int, var: str, first: bool) -> str:
    """'3x', '-x', '+ 2y', '- 5' as they appear in an equation (first: no leading '+')."""
    body = (var if abs(coef) == 1 and var else f"{abs(coef)}{var}") if var else str(abs(coef))
    if first:
        return f"-{body}" if coef < 0 else body
    return f"- {body}" if coef < 0 else f"+ {body}"


def side(*terms: tuple[int, str]) -> str:
    """A sum of (coefficient, variable) terms, zero terms left out; '0' when all are zero."""
    parts: list[str] = []
    for coef, var in terms:
        if coef:
            parts.append(term(coef, var, not parts))
    return " ".join(parts) or "0"


def _nonzero(rng: random.Random, lo: int, hi: int) -> int:
    while True:
        value = rng.randint(lo, hi)
        if value:
            return value


def _one_side(rng: random.Random) -> tuple[str, int, str]:
    """ax + b = c."""
    x, a, b = rng.randint(-20, 20), _nonzero(rng, -12, 12), rng.randint(-50, 50)
    c = a * x + b
    work = f"{a}x = {c} - ({b}) = {c - b}, so x = {c - b} / {a} = {x}."
    return f"Solve for x: {side((a, 'x'), (b, ''))} = {c}.", x, work


def _both_sides(rng: random.Random) -> tuple[str, int, str]:
    """a(x + b) + c = dx + e, or ax + b = dx + e."""
    x = rng.randint(-30, 30)
    a, d = _nonzero(rng, -12, 12), _nonzero(rng, -12, 12)
    while d == a:
        d = _nonzero(rng, -12, 12)
    b, c = rng.randint(-20, 20), rng.randint(-40, 40)
    e = a * (x + b) + c - d * x
    if rng.random() < 0.5 and b:
        prefix = {1: "", -1: "-"}.get(a, str(a))
        left = f"{prefix}(x {'+' if b > 0 else '-'} {abs(b)})"
        left = f"{left} {term(c, '', False)}" if c else left
    else:
        left = side((a, "x"), (a * b + c, ""))
    right = side((d, "x"), (e, ""))
    work = (
        f"Expanding and collecting x: {a - d}x = {e - a * b - c}, "
        f"so x = {e - a * b - c} / {a - d} = {x}."
    )
    return f"Solve for x: {left} = {right}.", x, work


def _system(rng: random.Random) -> tuple[str, int, str]:
    """Two equations in x and y; the question asks for x, y or x + y."""
    x, y = rng.randint(-15, 15), rng.randint(-15, 15)
    while True:
        a, b, c, d = (_nonzero(rng, -9, 9) for _ in range(4))
        if a * d - b * c:
            break
    e, f = a * x + b * y, c * x + d * y
    asked, value = rng.choice([("x", x), ("y", y), ("x + y", x + y)])
    question = (
        f"Solve the system of equations {side((a, 'x'), (b, 'y'))} = {e} and "
        f"{side((c, 'x'), (d, 'y'))} = {f}. What is the value of {asked}?"
    )
    work = f"Eliminating one unknown gives x = {x} and y = {y}, so {asked} = {value}."
    return question, value, work


class LinearTask(GeneratedTask):
    """Linear equations: ax + b = c (easy), unknowns on both sides (medium), 2x2 systems (hard)."""

    name = "linear"
    version = "1"
    area = "math"
    language = "en"
    description = "Linear equations in one unknown and 2x2 systems, with integer solutions."
    instruction = (
        "Solve it step by step, then end your reply with a final line of the form "
        "'Answer: <number>'."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """One equation (or system) for the level."""
        make = {"easy": _one_side, "medium": _both_sides, "hard": _system}[difficulty]
        question, value, work = make(rng)
        return Built(question, str(value), f"{work} Answer: {value}")

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the extracted number equals the solution ('x = -3' reads -3)."""
        return grade_number(instance.answer, output)
