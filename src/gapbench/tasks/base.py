"""The Task protocol and the records it produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
TaskKind = Literal["fresh", "fixed"]
"""'fresh': generated, so a run can draw instances no model has seen; 'fixed': a dataset."""


@dataclass(frozen=True)
class Instance:
    """One generated problem. Pure data: the same (task, version, seed, index, difficulty) always
    gives the same instance."""

    task: str
    task_version: str
    seed: int
    index: int
    difficulty: Difficulty
    question: str
    """The problem as shown to a model, without answer-format instructions."""
    answer: str
    """Canonical reference answer (numbers: an integer or exact decimal in ASCII digits)."""


@dataclass(frozen=True)
class FewShotExample:
    question: str
    solution: str
    """A short worked solution ending in the task's answer line, e.g. '... Answer: 42'."""


@dataclass(frozen=True)
class Score:
    """The verdict on one output."""

    correct: bool
    extracted: str | None
    """The answer we read from the output, normalised; None when extraction failed."""
    extraction_ok: bool
    """False when no answer could be read at all: a harness-visible failure, not a wrong answer."""
    method: str = ""
    """How the answer was found ('answer-line', 'boxed', 'last-number', ...), for auditing."""


@runtime_checkable
class Task(Protocol):
    """A task family. Implementations are plain classes registered in tasks/registry.py."""

    name: str
    version: str
    """Bumped whenever generation or scoring changes; stored with every sample."""
    area: str
    """'math', 'logic', 'cjk', 'code', ..."""
    language: str
    """BCP-47-ish language of the prompts: 'en', 'zh', 'ja'."""
    description: str
    levels: tuple[Difficulty, ...]
    """The difficulties this family generates; fixed datasets usually have one."""
    kind: TaskKind
    answer_format: str | None
    """What the final answer is, for the reasoning prompt style that asks for it in \\boxed{}:
    '' for a plain number (the makers' prompt is then used word for word), a short phrase such as
    'True or False' otherwise, or None when the answer is not one short value (code, free text,
    JSON): the task's own instruction is then kept in every prompt style."""

    def instance(self, seed: int, index: int, difficulty: Difficulty = "medium") -> Instance: ...

    def chat_prompt(self, instance: Instance) -> str:
        """User message for instruct models: the question plus the answer-format instruction."""
        ...

    def fewshot(self, seed: int, difficulty: Difficulty, k: int) -> list[FewShotExample]:
        """k worked examples for base models, drawn from a stream disjoint from evaluated ones."""
        ...

    def score(self, instance: Instance, output: str) -> Score: ...
