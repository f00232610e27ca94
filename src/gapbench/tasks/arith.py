"""`arith`: multi-step arithmetic word problems in English (shopping, baking, travel, ...).

A problem is a quantity that starts at some value and changes step by step (add, subtract, buy
several at a price, multiply, share equally). The steps are planned as numbers first and only then
dressed in words, so the answer is exact by construction; the same plan engine serves `zh_arith`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gapbench.scoring.extract import grade_number
from gapbench.scoring.score import Score
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

OpKind = Literal["add", "sub", "mul", "div", "groups_add", "groups_sub"]


@dataclass(frozen=True)
class Op:
    """One step. `a` is the amount, factor, divisor or number of groups; `b` the size of a group."""

    kind: OpKind
    a: int
    b: int = 0

    def apply(self, x: int) -> int:
        """The quantity after this step."""
        if self.kind == "add":
            return x + self.a
        if self.kind == "sub":
            return x - self.a
        if self.kind == "mul":
            return x * self.a
        if self.kind == "div":
            return x // self.a
        if self.kind == "groups_add":
            return x + self.a * self.b
        return x - self.a * self.b


@dataclass(frozen=True)
class Level:
    """Sizes for one difficulty: step counts, ranges of the numbers involved, and a ceiling."""

    steps: tuple[int, int]
    start: tuple[int, int]
    amount: tuple[int, int]
    groups: tuple[int, int]
    group_size: tuple[int, int]
    factor: tuple[int, int]
    divisor: tuple[int, int]
    cap: int


LEVELS: dict[Difficulty, Level] = {
    "easy": Level((2, 2), (10, 60), (2, 25), (2, 5), (2, 10), (2, 3), (2, 5), 500),
    "medium": Level((3, 4), (20, 300), (5, 120), (2, 9), (3, 30), (2, 4), (2, 8), 5_000),
    "hard": Level((5, 6), (100, 2500), (20, 900), (3, 15), (5, 80), (2, 5), (2, 12), 50_000),
}


def _try_op(rng: random.Random, kind: OpKind, x: int, lv: Level) -> Op | None:
    """A random valid step of `kind` from quantity x, or None: results stay in 1..cap, exact."""
    if kind == "add":
        hi = min(lv.amount[1], lv.cap - x)
        return Op("add", rng.randint(lv.amount[0], hi)) if hi >= lv.amount[0] else None
    if kind == "sub":
        hi = min(lv.amount[1], x - 1)
        return Op("sub", rng.randint(lv.amount[0], hi)) if hi >= lv.amount[0] else None
    if kind == "mul":
        factors = [k for k in range(lv.factor[0], lv.factor[1] + 1) if x * k <= lv.cap]
        return Op("mul", rng.choice(factors)) if factors else None
    if kind == "div":
        divisors = [d for d in range(lv.divisor[0], lv.divisor[1] + 1) if x % d == 0]
        return Op("div", rng.choice(divisors)) if divisors else None
    a = rng.randint(*lv.groups)
    b = rng.randint(*lv.group_size)
    if kind == "groups_add":
        return Op(kind, a, b) if x + a * b <= lv.cap else None
    return Op(kind, a, b) if a * b < x else None


def plan(rng: random.Random, level: Level, kinds: Sequence[OpKind]) -> tuple[int, list[Op]]:
    """A start value and a list of valid steps drawn from `kinds`."""
    x = rng.randint(*level.start)
    start = x
    ops: list[Op] = []
    for _ in range(rng.randint(*level.steps)):
        order = list(kinds)
        rng.shuffle(order)
        op = None
        for kind in [*order, "add", "sub"]:
            op = _try_op(rng, kind, x, level)
            if op is not None:
                break
        if op is None:  # x is 1 and at the cap at once: impossible with our levels
            raise AssertionError(f"no valid step from {x}")
        ops.append(op)
        x = op.apply(x)
    return start, ops


def result(start: int, ops: Sequence[Op]) -> int:
    """Apply the steps in order."""
    x = start
    for op in ops:
        x = op.apply(x)
    return x


@dataclass(frozen=True)
class Theme:
    """The words for one scenario. Templates use {a}, {b}, {n} for numbers and the person fields
    of `Person.fields` ({name}, {Pron}, {pron}, {poss}, {obj}, {refl})."""

    start: str
    question: str
    phrases: Mapping[OpKind, tuple[str, ...]]


@dataclass(frozen=True)
class Person:
    """A named character and the pronouns templates need for them."""

    name: str
    female: bool

    def fields(self) -> dict[str, str]:
        f = self.female
        return {
            "name": self.name,
            "Pron": "She" if f else "He",
            "pron": "she" if f else "he",
            "poss": "her" if f else "his",
            "Poss": "Her" if f else "His",
            "obj": "her" if f else "him",
            "refl": "herself" if f else "himself",
        }


PEOPLE = [Person(n, True) for n in ("Maya", "Sofia", "Amara", "Lena", "Priya", "Hana", "Ines")] + [
    Person(n, False) for n in ("Omar", "Lucas", "Kenji", "Mateo", "Arjun", "Felix", "Tomas")
]

THEMES: tuple[Theme, ...] = (
    Theme("{name} has ${n}.", "How many dollars does {name} have now?", {
        "add": ("{Pron} earns ${a} for mowing a lawn.", "{Poss} aunt gives {obj} ${a}.",
                "{Pron} finds ${a} in an old coat."),
        "sub": ("{Pron} spends ${a} on lunch.", "{Pron} pays ${a} for a concert ticket."),
        "groups_add": ("{Pron} works {a} hours and is paid ${b} per hour.",
                       "{Pron} sells {a} old books for ${b} each."),
        "groups_sub": ("{Pron} buys {a} notebooks that cost ${b} each.",
                       "{Pron} buys {a} bus passes at ${b} each."),
        "div": ("{Pron} splits {poss} money equally into {a} envelopes and keeps only one "
                "envelope.",),
    }),
    Theme("A bakery has {n} cookies in the morning.", "How many cookies are in the bakery now?", {
        "add": ("The baker bakes {a} more cookies.", "A neighbor brings {a} cookies."),
        "sub": ("Customers buy {a} cookies.", "The staff eat {a} cookies at a meeting."),
        "groups_add": ("The baker bakes {a} trays with {b} cookies on each tray.",),
        "groups_sub": ("{a} customers each buy {b} cookies.",),
        "mul": ("A big delivery arrives, and the number of cookies becomes {a} times as large.",),
        "div": ("The cookies are packed equally into {a} boxes, and only one box stays in the "
                "bakery.",),
    }),
    Theme("A school library has {n} books on its shelves.",
          "How many books are on the library's shelves now?", {
        "add": ("The library receives {a} donated books.", "Students return {a} books."),
        "sub": ("{a} worn-out books are thrown away.", "Students borrow {a} books."),
        "groups_add": ("The library buys {a} boxes of books with {b} books in each box.",),
        "groups_sub": ("{a} classes each borrow {b} books.",),
        "mul": ("After a huge donation, the library has {a} times as many books as before.",),
        "div": ("The books are shared equally among {a} branch libraries, and this library "
                "keeps one share.",),
    }),
    Theme("{name} has {n} stickers.", "How many stickers does {name} have now?", {
        "add": ("{Pron} gets {a} stickers from a friend.", "{Pron} wins {a} stickers."),
        "sub": ("{Pron} gives {a} stickers to {poss} cousin.", "{Pron} loses {a} stickers."),
        "groups_add": ("{Pron} buys {a} packs with {b} stickers in each pack.",),
        "groups_sub": ("{Pron} gives {b} stickers to each of {a} classmates.",),
        "mul": ("{Pron} makes a trade and ends up with {a} times as many stickers as before.",),
        "div": ("{Pron} shares {poss} stickers equally among {a} friends, including {refl}, "
                "and keeps {poss} own share.",),
    }),
    Theme("A water tank holds {n} liters of water.", "How many liters are in the tank now?", {
        "add": ("{a} liters of rainwater flow in.", "A truck pumps in {a} liters."),
        "sub": ("{a} liters are used to water the garden.", "{a} liters leak out."),
        "groups_add": ("{a} buckets of {b} liters each are poured in.",),
        "groups_sub": ("{a} people each take {b} liters.",),
        "mul": ("After a storm, the tank holds {a} times as much water as before.",),
        "div": ("The water is shared equally among {a} tanks, and this tank keeps one share.",),
    }),
    Theme("A train leaves the station with {n} passengers.",
          "How many passengers are on the train now?", {
        "add": ("At the next station, {a} people get on.", "{a} passengers board at a small town."),
        "sub": ("At the next station, {a} people get off.", "{a} passengers leave at the harbor."),
        "groups_add": ("{a} tour groups of {b} people each get on.",),
        "groups_sub": ("{a} families of {b} people each get off.",),
        "div": ("The passengers split into {a} equal groups, and only one group stays on the "
                "train.",),
    }),
    Theme("A farmer has {n} eggs.", "How many eggs does the farmer have now?", {
        "add": ("The hens lay {a} more eggs.", "A neighbor gives the farmer {a} eggs."),
        "sub": ("{a} eggs break.", "The farmer cooks {a} eggs for a party."),
        "groups_add": ("{a} hens each lay {b} eggs.",),
        "groups_sub": ("The farmer sells {a} cartons of {b} eggs.",),
        "div": ("The farmer packs the eggs equally into {a} baskets and keeps one basket.",),
    }),
    Theme("{name} has {n} points in a video game.", "How many points does {name} have now?", {
        "add": ("{Pron} wins {a} points.", "{Pron} collects {a} bonus points."),
        "sub": ("{Pron} loses {a} points.", "{Pron} spends {a} points on a new outfit."),
        "groups_add": ("{Pron} completes {a} levels worth {b} points each.",),
        "groups_sub": ("{Pron} buys {a} power-ups that cost {b} points each.",),
        "mul": ("A bonus round multiplies {poss} points by {a}.",),
        "div": ("A penalty divides {poss} points by {a}.",),
    }),
)  # fmt: skip


def render_steps(
    rng: random.Random,
    phrases: Mapping[OpKind, tuple[str, ...]],
    ops: Sequence[Op],
    fmt: Callable[[int], str],
    fields: Mapping[str, str],
) -> list[str]:
    """One sentence per step, avoiding the same sentence template twice where possible."""
    used: set[str] = set()
    sentences = []
    for op in ops:
        options = [t for t in phrases[op.kind] if t not in used] or list(phrases[op.kind])
        template = rng.choice(options)
        used.add(template)
        sentences.append(template.format(a=fmt(op.a), b=fmt(op.b), **fields))
    return sentences


def worked_steps(start: int, ops: Sequence[Op]) -> list[str]:
    """Language-neutral arithmetic lines ('45 - 12 = 33.') for few-shot solutions."""
    lines, x = [], start
    for op in ops:
        y = op.apply(x)
        symbol = {"add": "+", "sub": "-", "mul": "×", "div": "÷"}.get(op.kind)
        if symbol is not None:
            lines.append(f"{x} {symbol} {op.a} = {y}.")
        else:
            sign = "+" if op.kind == "groups_add" else "-"
            lines.append(f"{op.a} × {op.b} = {op.a * op.b}, {x} {sign} {op.a * op.b} = {y}.")
        x = y
    return lines


@dataclass(frozen=True)
class WordProblem:
    """A composed problem: its sentences (not yet joined: languages join them differently), the
    starting quantity and the steps, from which answers and worked solutions derive."""

    sentences: list[str]
    start: int
    ops: list[Op]

    @property
    def answer(self) -> str:
        return str(result(self.start, self.ops))

    def worked(self, opening: str, answer_label: str) -> list[str]:
        """Solution lines: the opening (e.g. 'Start with 12.'), one line a step, the answer line."""
        return [opening, *worked_steps(self.start, self.ops), f"{answer_label}{self.answer}"]


Cast = Callable[[random.Random], tuple[Mapping[str, str], Callable[[int], str]]]
"""Draws who the problem is about and how numbers are written, after the steps are planned."""


def compose(
    rng: random.Random, themes: Sequence[Theme], difficulty: Difficulty, cast: Cast
) -> WordProblem:
    """One word problem in any language: the step engine shared by arith, zh_arith and ja_arith.
    The order of draws (theme, steps, cast, sentences) is part of every instance's identity."""
    theme = rng.choice(themes)
    start, ops = plan(rng, LEVELS[difficulty], list(theme.phrases))
    fields, write = cast(rng)
    sentences = [theme.start.format(n=write(start), **fields)]
    sentences += render_steps(rng, theme.phrases, ops, write, fields)
    sentences.append(theme.question.format(**fields))
    return WordProblem(sentences, start, ops)


def english_number(n: int) -> str:
    """Thousands separated by commas, as English text writes them."""
    return f"{n:,}"


def _cast(rng: random.Random) -> tuple[dict[str, str], Callable[[int], str]]:
    return rng.choice(PEOPLE).fields(), english_number


class ArithTask(GeneratedTask):
    """Multi-step arithmetic word problems; 2 steps (easy), 3-4 (medium), 5-6 (hard)."""

    name = "arith"
    version = "1"
    area = "math"
    language = "en"
    description = "Multi-step arithmetic word problems (shopping, baking, travel); integer answers."
    instruction = (
        "Solve the problem step by step, then end your reply with a final line of the form "
        "'Answer: <number>'."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A word problem drawn with `rng`; the worked solution ends in 'Answer: N'."""
        problem = compose(
            rng, THEMES, difficulty, lambda r: (r.choice(PEOPLE).fields(), english_number)
        )
        solution = problem.worked(f"Start with {problem.start}.", "Answer: ")
        return Built(" ".join(problem.sentences), problem.answer, " ".join(solution))

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the extracted number equals the reference exactly."""
        return grade_number(instance.answer, output)
