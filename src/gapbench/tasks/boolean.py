"""`boolean`: evaluate a boolean formula over named truth values.

Formulas are random trees; every binary operation is parenthesised (except the outermost), so the
text has one reading with no precedence rules to remember. Variable values are redrawn until the
formula hits a target value chosen by coin flip, so True and False answers are equally common.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from gapbench.scoring.extract import grade_choice
from gapbench.scoring.score import Score
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask


@dataclass(frozen=True)
class Level:
    """How many binary operators and variables, which operators, and how often NOT appears."""

    operators: tuple[int, int]
    variables: int
    ops: tuple[str, ...]
    not_rate: float


LEVELS: dict[Difficulty, Level] = {
    "easy": Level((2, 3), 3, ("AND", "OR"), 0.2),
    "medium": Level((3, 4), 4, ("AND", "OR", "XOR"), 0.3),
    "hard": Level((5, 7), 5, ("AND", "OR", "XOR", "IMPLIES"), 0.35),
}
VARIABLES = "PQRST"


@dataclass(frozen=True)
class Formula:
    """A variable (op == 'VAR', name set), a negation (left set) or a binary op (both set)."""

    op: str
    name: str = ""
    left: Formula | None = None
    right: Formula | None = None

    def value(self, env: Mapping[str, bool]) -> bool:
        """The formula's truth value under `env`."""
        if self.op == "VAR":
            return env[self.name]
        assert self.left is not None
        a = self.left.value(env)
        if self.op == "NOT":
            return not a
        assert self.right is not None
        b = self.right.value(env)
        return {"AND": a and b, "OR": a or b, "XOR": a != b, "IMPLIES": (not a) or b}[self.op]

    def variables(self) -> set[str]:
        """The variable names the formula uses."""
        if self.op == "VAR":
            return {self.name}
        found = set() if self.left is None else self.left.variables()
        return found | (set() if self.right is None else self.right.variables())

    def steps(self, env: Mapping[str, bool]) -> list[str]:
        """'(P AND Q) is False.' for each binary operation, innermost first."""
        if self.op == "VAR":
            return []
        inner = [] if self.left is None else self.left.steps(env)
        inner += [] if self.right is None else self.right.steps(env)
        if self.op == "NOT":
            return inner
        return [*inner, f"{self.text(top=False)} is {self.value(env)}."]

    def text(self, top: bool = True) -> str:
        """'(P AND NOT Q) OR R': binary operations in parentheses unless outermost."""
        if self.op == "VAR":
            return self.name
        assert self.left is not None
        if self.op == "NOT":
            return f"NOT {self.left.text(top=False)}"
        assert self.right is not None
        body = f"{self.left.text(top=False)} {self.op} {self.right.text(top=False)}"
        return body if top else f"({body})"


def random_formula(rng: random.Random, operators: int, names: str, level: Level) -> Formula:
    """A random tree with exactly `operators` binary operators over `names`."""
    if operators == 0:
        node = Formula("VAR", name=rng.choice(names))
    else:
        left_ops = rng.randint(0, operators - 1)
        node = Formula(
            rng.choice(level.ops),
            left=random_formula(rng, left_ops, names, level),
            right=random_formula(rng, operators - 1 - left_ops, names, level),
        )
    if rng.random() < level.not_rate:
        node = Formula("NOT", left=node)
    return node


def _values_text(env: Mapping[str, bool]) -> str:
    items = [f"{name} = {env[name]}" for name in sorted(env)]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


class BooleanTask(GeneratedTask):
    """Boolean formulas: 2-3 operators (easy), 3-4 with XOR (medium), 5-7 with IMPLIES (hard)."""

    name = "boolean"
    version = "1"
    area = "logic"
    language = "en"
    description = "Evaluate boolean formulas (AND, OR, NOT, XOR, IMPLIES) over given values."
    answer_format: str | None = "True or False"
    instruction = (
        "Evaluate it step by step, then end your reply with a final line of the form "
        "'Answer: True' or 'Answer: False'."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A formula and values for its variables that give a coin-flipped target value."""
        level = LEVELS[difficulty]
        names = VARIABLES[: level.variables]
        target = rng.random() < 0.5
        while True:
            formula = random_formula(rng, rng.randint(*level.operators), names, level)
            used = sorted(formula.variables())
            for _ in range(20):
                env = {n: rng.random() < 0.5 for n in used}
                if formula.value(env) == target:
                    return self._built(formula, env, target)

    def _built(self, formula: Formula, env: Mapping[str, bool], value: bool) -> Built:
        text = formula.text()
        question = f"Let {_values_text(env)}. What is the value of {text}?"
        notes = []
        if "NOT" in text:
            notes.append("NOT applies to the variable or parenthesised group right after it")
        if "XOR" in text:
            notes.append("A XOR B is true when exactly one of A and B is true")
        if "IMPLIES" in text:
            notes.append("A IMPLIES B is false only when A is true and B is false")
        if notes:
            question += f" ({'; '.join(notes)}.)"
        solution = " ".join([*formula.steps(env), f"Answer: {value}"])
        return Built(question, str(value), solution)

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the answer line (else the last True/False mentioned) matches."""
        return grade_choice(instance.answer, output, ("True", "False"))
