"""Shared plumbing for procedural families: a family writes `build` (rng -> problem) and `score`;
this base turns `build` into pure instances and few-shot examples the same way for all of them."""

from __future__ import annotations

import random
from dataclasses import dataclass

from gapbench.tasks.base import (
    DIFFICULTIES,
    Difficulty,
    FewShotExample,
    Instance,
    TaskBase,
    TaskKind,
)
from gapbench.tasks.seeding import FEWSHOT_SALT, derive_rng


@dataclass(frozen=True)
class Built:
    """One generated problem before it becomes an Instance."""

    question: str
    answer: str
    solution: str
    """A short worked solution ending in the family's answer line, for few-shot prompts."""


class GeneratedTask(TaskBase):
    """Base for fresh families. Subclasses set the class attributes and implement `build` and
    `score` (see the Task protocol in base.py)."""

    name: str
    version: str
    area: str
    language: str
    description: str
    instruction: str
    """Appended to the question in chat prompts: how to think and how to state the answer."""
    levels: tuple[Difficulty, ...] = DIFFICULTIES
    kind: TaskKind = "fresh"
    answer_format: str | None = ""
    """See the Task protocol: '' is a plain number."""

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A problem drawn with `rng` at `difficulty`; every random choice must come from rng."""
        raise NotImplementedError

    def instance(self, seed: int, index: int, difficulty: Difficulty = "medium") -> Instance:
        """The problem for (seed, index, difficulty); pure and deterministic."""
        rng = derive_rng(self.name, self.version, seed, index, difficulty)
        built = self.build(rng, difficulty)
        return Instance(
            self.name, self.version, seed, index, difficulty, built.question, built.answer
        )

    def chat_prompt(self, instance: Instance) -> str:
        """The question plus the family's answer-format instruction."""
        return f"{instance.question}\n\n{self.instruction}"

    def fewshot(self, seed: int, difficulty: Difficulty, k: int) -> list[FewShotExample]:
        """k worked examples from a stream disjoint from evaluated instances."""
        examples = []
        for i in range(k):
            rng = derive_rng(self.name, self.version, FEWSHOT_SALT, seed, i, difficulty)
            built = self.build(rng, difficulty)
            examples.append(FewShotExample(built.question, built.solution))
        return examples
