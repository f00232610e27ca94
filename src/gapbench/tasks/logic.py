"""`logic`: ordering puzzles. "Alice is taller than Bruno. ... Who is the second tallest?"

Clues are true comparisons from a hidden ranking. The generator keeps only clues needed to pin
down the asked person, then adds redundant true clues (more at higher levels), and checks that the
answer is unique by enumerating every way the people could be ranked consistently with the clues.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from gapbench.scoring.extract import grade_choice
from gapbench.scoring.score import Score
from gapbench.tasks.base import (
    DIFFICULTIES,
    Difficulty,
    FewShotExample,
    Instance,
    TaskBase,
    TaskKind,
)
from gapbench.tasks.seeding import FEWSHOT_SALT, derive_rng

NAMES = (
    "Alice", "Bruno", "Chloe", "Diego", "Elena", "Farid", "Greta", "Hiro", "Ingrid", "Jonas",
    "Kemal", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Samir", "Tara",
    "Umar", "Vera", "Wendel", "Yusuf", "Zoe",
)  # fmt: skip
"""Names chosen not to be English words, so that finding one in an output means the name."""

ENTITIES: dict[Difficulty, int] = {"easy": 3, "medium": 5, "hard": 7}
REDUNDANT: dict[Difficulty, tuple[int, int]] = {"easy": (0, 0), "medium": (1, 2), "hard": (2, 3)}
_COUNT_WORDS = {3: "Three", 5: "Five", 7: "Seven"}
_ORDINALS = ("", "second ", "third ", "fourth ", "fifth ", "sixth ", "seventh ")


@dataclass(frozen=True)
class Domain:
    """How one kind of ranking is worded: 'more'/'less' comparatives and superlatives."""

    intro: str
    more: str
    less: str
    most: str
    least: str


DOMAINS = (
    Domain("{count} friends compare their heights.", "is taller than", "is shorter than",
           "tallest", "shortest"),
    Domain("{count} cousins compare their ages.", "is older than", "is younger than", "oldest",
           "youngest"),
    Domain("{count} runners finish a race.", "finished ahead of", "finished behind",
           "fastest runner", "slowest runner"),
    Domain("{count} friends step on a scale.", "is heavier than", "is lighter than", "heaviest",
           "lightest"),
    Domain("{count} students compare their test scores.", "scored higher than",
           "scored lower than", "highest scorer", "lowest scorer"),
)  # fmt: skip

Clue = tuple[int, int]
"""(i, j): entity i ranks above entity j (taller, older, ...). Entities are 0..n-1 by rank."""


def possible_at(n: int, clues: Sequence[Clue], position: int) -> set[int]:
    """Every entity that some ranking consistent with `clues` puts at `position` (0 = top).

    Exhaustive: a ranking places a set S of `position` entities above the one at `position`; S must
    be closed upwards under the clues, and the entity must have all its superiors in S. Enumerating
    every such S covers every consistent ranking, at a cost of C(n, position) sets.
    """
    above = {j: {i for i, jj in clues if jj == j} for j in range(n)}
    found: set[int] = set()
    for chosen in itertools.combinations(range(n), position):
        s = set(chosen)
        if any(not above[j] <= s for j in s):
            continue
        found.update(e for e in range(n) if e not in s and above[e] <= s)
    return found


def _closure(n: int, clues: Sequence[Clue]) -> set[Clue]:
    above = set(clues)
    for k, i, j in itertools.product(range(n), repeat=3):  # Floyd-Warshall order: k outermost
        if (i, k) in above and (k, j) in above:
            above.add((i, j))
    return above


@dataclass(frozen=True)
class Puzzle:
    names: tuple[str, ...]
    """names[r] is the entity of rank r (0 = top); hidden from the solver."""
    clues: tuple[Clue, ...]
    position: int
    from_top: bool
    domain: Domain


def make_puzzle(rng: random.Random, difficulty: Difficulty) -> Puzzle:
    """A puzzle whose asked position has exactly one possible entity (checked exhaustively)."""
    n = ENTITIES[difficulty]
    names = tuple(rng.sample(NAMES, n))
    rank = rng.randrange(n)
    from_top = rng.random() < 0.5
    # Start from every adjacent pair (a unique full ranking) plus a few longer-range facts, then
    # drop clues in random order while the answer stays unique: varied, minimal clue sets.
    clues = {(r, r + 1) for r in range(n - 1)}
    all_true = [(i, j) for i in range(n) for j in range(i + 1, n)]
    clues.update(rng.sample(all_true, min(len(all_true), n)))
    order = sorted(clues)
    rng.shuffle(order)
    kept = list(order)
    for clue in order:
        trial = [c for c in kept if c != clue]
        if possible_at(n, trial, rank) == {rank}:
            kept = trial
    implied = sorted(_closure(n, kept) - set(kept))
    extra = [c for c in all_true if c not in kept]
    lo, hi = REDUNDANT[difficulty]
    count = rng.randint(lo, hi)
    # Prefer clues that follow from the others (true redundancy); top up with other true facts.
    redundant = rng.sample(implied, min(count, len(implied)))
    rest = [c for c in extra if c not in redundant]
    redundant += rng.sample(rest, min(count - len(redundant), len(rest)))
    final = kept + redundant
    rng.shuffle(final)
    if possible_at(n, final, rank) != {rank}:
        raise AssertionError("generated an ordering puzzle without a unique answer")
    position = rank if from_top else n - 1 - rank
    return Puzzle(names, tuple(final), position, from_top, rng.choice(DOMAINS))


def _clue_text(p: Puzzle, clue: Clue, rng: random.Random) -> str:
    upper, lower = clue
    if rng.random() < 0.5:
        return f"{p.names[upper]} {p.domain.more} {p.names[lower]}."
    return f"{p.names[lower]} {p.domain.less} {p.names[upper]}."


def render(p: Puzzle, rng: random.Random) -> str:
    """The puzzle as text: intro, one sentence per clue, the question."""
    n = len(p.names)
    intro = p.domain.intro.format(count=_COUNT_WORDS[n])
    listing = f"They are {_join(sorted(p.names))}."
    clues = " ".join(_clue_text(p, c, rng) for c in p.clues)
    word = p.domain.most if p.from_top else p.domain.least
    question = f"Who is the {_ORDINALS[p.position]}{word}?"
    return f"{intro} {listing} {clues} {question}"


def answer_of(p: Puzzle) -> str:
    """The entity at the asked position."""
    n = len(p.names)
    return p.names[p.position if p.from_top else n - 1 - p.position]


def explain(p: Puzzle) -> str:
    """A short worked solution: who must rank above and below the answer."""
    n = len(p.names)
    rank = p.position if p.from_top else n - 1 - p.position
    closed = _closure(n, p.clues)
    above = [p.names[i] for i in range(n) if (i, rank) in closed]
    below = [p.names[j] for j in range(n) if (rank, j) in closed]
    name, word = p.names[rank], p.domain.most if p.from_top else p.domain.least
    facts = []
    if above:
        facts.append(f"{name} {p.domain.less} {_join(above)}")
    if below:
        facts.append(f"{name} {p.domain.more} {_join(below)}")
    return (
        f"Following the clues, {' and '.join(facts)}. "
        f"So {name} is the {_ORDINALS[p.position]}{word}. Answer: {name}"
    )


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class LogicTask(TaskBase):
    """Ordering puzzles over 3 (easy), 5 (medium) or 7 (hard) people, with redundant clues."""

    name = "logic"
    version = "1"
    area = "logic"
    language = "en"
    description = "Ordering puzzles: who is the k-th tallest/oldest/... given comparison clues."
    levels: tuple[Difficulty, ...] = DIFFICULTIES
    kind: TaskKind = "fresh"

    def _build(self, rng: random.Random, difficulty: Difficulty) -> tuple[str, Puzzle]:
        puzzle = make_puzzle(rng, difficulty)
        return render(puzzle, rng), puzzle

    def instance(self, seed: int, index: int, difficulty: Difficulty = "medium") -> Instance:
        """The puzzle for (seed, index, difficulty); pure and deterministic."""
        rng = derive_rng(self.name, self.version, seed, index, difficulty)
        question, puzzle = self._build(rng, difficulty)
        return Instance(
            self.name, self.version, seed, index, difficulty, question, answer_of(puzzle)
        )

    answer_format: str | None = "one name"

    def chat_prompt(self, instance: Instance) -> str:
        """The puzzle plus the answer-line instruction."""
        return (
            f"{instance.question}\n\nThink it through, then end your reply with a final line of "
            "the form 'Answer: <name>'."
        )

    def fewshot(self, seed: int, difficulty: Difficulty, k: int) -> list[FewShotExample]:
        """k worked examples from a stream disjoint from evaluated instances."""
        examples = []
        for i in range(k):
            rng = derive_rng(self.name, self.version, FEWSHOT_SALT, seed, i, difficulty)
            question, puzzle = self._build(rng, difficulty)
            examples.append(FewShotExample(question, explain(puzzle)))
        return examples

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the named person (answer line first, else last name mentioned) matches."""
        return grade_choice(instance.answer, output, NAMES)
