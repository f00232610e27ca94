"""`modular`: remainders, modular expressions, powers and linear congruences.

Answers are the least non-negative residue, so every question has exactly one right number.
"""

from __future__ import annotations

import random

from gapbench.scoring.extract import grade_number
from gapbench.scoring.score import Score
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

PRIMES = (7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)


def _remainder(rng: random.Random) -> tuple[str, int, str]:
    a, m = rng.randint(10, 9999), rng.randint(2, 19)
    q, r = divmod(a, m)
    if rng.random() < 0.5:
        question = f"What is the remainder when {a} is divided by {m}?"
    else:
        question = f"What is {a} mod {m}?"
    return question, r, f"{a} = {m} × {q} + {r}."


def _expression(rng: random.Random) -> tuple[str, int, str]:
    a, b, c, m = rng.randint(12, 999), rng.randint(12, 999), rng.randint(0, 999), rng.randint(3, 40)
    value = (a * b + c) % m
    work = f"{a} × {b} + {c} = {a * b + c}, and {a * b + c} mod {m} = {value}."
    return f"What is ({a} × {b} + {c}) mod {m}?", value, work


def _power(rng: random.Random) -> tuple[str, int, str]:
    a, e, m = rng.randint(2, 99), rng.randint(10, 400), rng.choice(PRIMES)
    value = pow(a, e, m)
    work = f"Reduce {a} mod {m} and square repeatedly: {a}^{e} mod {m} = {value}."
    return f"What is {a}^{e} mod {m}?", value, work


def _congruence(rng: random.Random) -> tuple[str, int, str]:
    m = rng.choice(PRIMES)
    a = rng.randint(2, m - 1)
    x = rng.randrange(m)
    b = (a * x) % m + rng.randint(0, 3) * m  # sometimes unreduced: the solver must reduce it
    inverse = pow(a, -1, m)
    work = f"The inverse of {a} mod {m} is {inverse}, so x = {b} × {inverse} mod {m} = {x}."
    question = f"Find the integer x with 0 ≤ x < {m} such that {a}x ≡ {b} (mod {m})."
    return question, x, work


class ModularTask(GeneratedTask):
    """Modular arithmetic: remainders (easy), (a×b+c) mod m (medium), powers, congruences (hard)."""

    name = "modular"
    version = "1"
    area = "math"
    language = "en"
    description = "Modular arithmetic: remainders, (a×b+c) mod m, modular powers, congruences."
    instruction = (
        "Work it out step by step, then end your reply with a final line of the form "
        "'Answer: <number>'."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """One problem of a kind drawn for the level."""
        if difficulty == "easy":
            question, value, work = _remainder(rng)
        elif difficulty == "medium":
            question, value, work = _expression(rng)
        else:
            question, value, work = rng.choice((_power, _congruence))(rng)
        return Built(question, str(value), f"{work} Answer: {value}")

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the extracted number equals the residue exactly."""
        return grade_number(instance.answer, output)
