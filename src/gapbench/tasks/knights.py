"""`knights`: knights-and-knaves puzzles. Knights always tell the truth, knaves always lie.

A hidden assignment is drawn first; each islander then makes a statement whose truth matches their
kind under that assignment. A puzzle is kept only when exactly one of the 2**n assignments makes
every statement consistent (checked exhaustively), so the set of knights is the unique answer.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gapbench.scoring.score import Score
from gapbench.scoring.structured import name_set_reader, read_answer
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask
from gapbench.tasks.logic import NAMES

PEOPLE: dict[Difficulty, int] = {"easy": 2, "medium": 3, "hard": 4}
KINDS_BY_LEVEL: dict[Difficulty, tuple[str, ...]] = {
    "easy": ("is", "both", "same", "count"),
    "medium": ("is", "both", "either", "same", "different", "count"),
    "hard": ("is", "both", "either", "same", "different", "count", "if"),
}
_COUNT_WORDS = ("none", "exactly one", "exactly two", "exactly three", "all four")


@dataclass(frozen=True)
class Statement:
    """What one islander claims. `targets` index islanders; `flag` is a kind (True = knight)
    for 'is'/'both', and `count` the number of knights for 'count'."""

    kind: str
    targets: tuple[int, ...] = ()
    flag: bool = True
    count: int = 0

    def holds(self, knights: Sequence[bool]) -> bool:
        """Whether the claim is true when knights[i] says if islander i is a knight."""
        t = [knights[i] for i in self.targets]
        if self.kind == "is":
            return t[0] == self.flag
        if self.kind == "both":
            return t[0] == self.flag and t[1] == self.flag
        if self.kind == "either":
            return t[0] or t[1]
        if self.kind == "same":
            return t[0] == t[1]
        if self.kind == "different":
            return t[0] != t[1]
        if self.kind == "count":
            return sum(knights) == self.count
        return (not t[0]) or t[1]  # "if": if the first is a knight, the second is a knight


def consistent(knights: Sequence[bool], speakers: Sequence[tuple[int, Statement]]) -> bool:
    """Knights' statements are true and knaves' false."""
    return all(s.holds(knights) == knights[who] for who, s in speakers)


def solutions(n: int, speakers: Sequence[tuple[int, Statement]]) -> list[tuple[bool, ...]]:
    """Every assignment of kinds to n islanders that the statements allow."""
    return [k for k in itertools.product((True, False), repeat=n) if consistent(k, speakers)]


def _random_statement(rng: random.Random, n: int, speaker: int, kinds: Sequence[str]) -> Statement:
    kind = rng.choice(kinds)
    others = [i for i in range(n) if i != speaker]
    if kind == "count":
        return Statement("count", count=rng.randint(0, n))
    if kind == "is":
        return Statement("is", (rng.choice(others),), rng.random() < 0.5)
    pair = tuple(rng.sample(range(n), 2)) if n > 2 else (others[0], speaker)
    if speaker not in pair and rng.random() < 0.3:
        pair = (pair[0], speaker)  # statements about oneself make the puzzles less mechanical
    return Statement(kind, pair, rng.random() < 0.5)


def make_puzzle(
    rng: random.Random, difficulty: Difficulty
) -> tuple[tuple[bool, ...], list[tuple[int, Statement]]]:
    """A hidden assignment and one statement per islander with exactly one solution."""
    n = PEOPLE[difficulty]
    while True:
        knights = tuple(rng.random() < 0.5 for _ in range(n))
        speakers: list[tuple[int, Statement]] = []
        for who in range(n):
            while True:
                statement = _random_statement(rng, n, who, KINDS_BY_LEVEL[difficulty])
                if statement.holds(knights) == knights[who]:
                    break
            speakers.append((who, statement))
        if solutions(n, speakers) == [knights]:
            return knights, speakers


def _ref(names: Sequence[str], i: int, speaker: int, subject: bool) -> str:
    return names[i] if i != speaker else ("I" if subject else "me")


def _pair(names: Sequence[str], s: Statement, speaker: int, subject: bool) -> str:
    a, b = s.targets
    if a == speaker:  # "Bruno and I", never "I and Bruno"
        a, b = b, a
    return f"{_ref(names, a, speaker, subject)} and {_ref(names, b, speaker, subject)}"


def statement_text(names: Sequence[str], speaker: int, s: Statement) -> str:
    """The claim in English, as the speaker says it."""
    kind_word = "knight" if s.flag else "knave"
    if s.kind == "is":
        return f"{names[s.targets[0]]} is a {kind_word}."
    if s.kind == "both":
        return f"{_pair(names, s, speaker, True)} are both {kind_word}s."
    if s.kind == "either":
        return f"At least one of {_pair(names, s, speaker, False)} is a knight."
    if s.kind == "same":
        return f"{_pair(names, s, speaker, True)} are the same kind."
    if s.kind == "different":
        return f"{_pair(names, s, speaker, True)} are different kinds."
    if s.kind == "count":
        words = _COUNT_WORDS[s.count]
        verb = "is a knight" if s.count == 1 else "are knights"
        return f"{words[0].upper()}{words[1:]} of us {verb}."
    a, b = (_ref(names, i, speaker, True) for i in s.targets)
    verb = "am" if a == "I" else "is"
    b_verb = "am" if b == "I" else "is"
    return f"If {a} {verb} a knight, then {b} {b_verb} a knight."


def answer_text(names: Sequence[str], knights: Sequence[bool]) -> str:
    """'Alice, Chloe' in the order of introduction, or 'none'."""
    chosen = [name for name, k in zip(names, knights, strict=True) if k]
    return ", ".join(chosen) if chosen else "none"


_KNIGHT_READER = name_set_reader(NAMES)
_PARENS_RE = re.compile(r"\([^()]*\)")
_CUT_RE = re.compile(r";|\bknaves?\b|\bliars?\b", re.IGNORECASE)


def read_knights(segment: str) -> frozenset[str] | None:
    """The names given as knights: parentheticals and anything after 'knave' or ';' dropped, so
    'Alice and Chloe are knights; Bruno is a knave' reads {Alice, Chloe}."""
    segment = _PARENS_RE.sub(" ", segment)
    cut = _CUT_RE.search(segment)
    if cut is not None and cut.start() > 0:
        segment = segment[: cut.start()]
    return _KNIGHT_READER(segment)


class KnightsTask(GeneratedTask):
    """Knights and knaves over 2 (easy), 3 (medium) or 4 (hard) islanders."""

    name = "knights"
    version = "1"
    area = "logic"
    language = "en"
    description = "Knights-and-knaves puzzles with a unique solution; name every knight."
    answer_format: str | None = "the names of all knights, separated by commas, or none"
    instruction = (
        "Think it through, then end your reply with a final line of the form "
        "'Answer: <the names of all knights, separated by commas, or none>'."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A puzzle with a unique set of knights."""
        knights, speakers = make_puzzle(rng, difficulty)
        names = rng.sample(NAMES, len(knights))
        listing = ", ".join(names[:-1]) + f" and {names[-1]}"
        lines = [
            "On an island, every inhabitant is either a knight, who always tells the truth, or a "
            f"knave, who always lies. You meet {listing}."
        ]
        lines += [f'{names[who]} says: "{statement_text(names, who, s)}"' for who, s in speakers]
        lines.append("Which of them are knights?")
        answer = answer_text(names, knights)
        kinds = "; ".join(
            f"{name} is a {'knight' if k else 'knave'}"
            for name, k in zip(names, knights, strict=True)
        )
        solution = (
            f"Trying every assignment, only one makes each statement true exactly when its "
            f"speaker is a knight: {kinds}. Answer: {answer}"
        )
        return Built(" ".join(lines), answer, solution)

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the named knights are exactly the reference set ('none' = empty set)."""
        expected = (
            frozenset() if instance.answer == "none" else frozenset(instance.answer.split(", "))
        )
        got, method = read_answer(output, read_knights)
        extracted = None if got is None else (", ".join(sorted(got)) or "none")
        return Score(got is not None and got == expected, extracted, got is not None, method)
