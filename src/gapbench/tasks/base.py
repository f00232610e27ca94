"""The Task protocol, the records it produces, and TaskBase, which carries the protocol's
defaults so that every family, procedural or a fixed dataset, has every hook the runner and the
backends call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from gapbench.scoring.score import Score

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


@runtime_checkable
class Task(Protocol):
    """A task family. Implementations are plain classes that inherit TaskBase (the defaults of
    completion_stop, completion_prompt and reference_output), registered in tasks/registry.py."""

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
    completion_stop: tuple[str, ...]
    """Stop strings that end a base model's completion after one answer (TaskBase: those of the
    Question/Solution format)."""

    def instance(self, seed: int, index: int, difficulty: Difficulty = "medium") -> Instance: ...

    def chat_prompt(self, instance: Instance) -> str:
        """User message for instruct models: the question plus the answer-format instruction."""
        ...

    def fewshot(self, seed: int, difficulty: Difficulty, k: int) -> list[FewShotExample]:
        """k worked examples for base models, drawn from a stream disjoint from evaluated ones."""
        ...

    def score(self, instance: Instance, output: str) -> Score: ...

    def completion_prompt(self, instance: Instance, k: int) -> str:
        """The text a base model continues: k worked examples, then the question (TaskBase: the
        Question/Solution few-shot format; HumanEval: the raw function prompt)."""
        ...

    def reference_output(self, instance: Instance) -> str | None:
        """An ideal output, for tasks whose answer is not a line of text (code): what the scripted
        backend answers when it is right. None: the answer line 'Answer: <answer>' is ideal."""
        ...


COMPLETION_STOP: tuple[str, ...] = ("\nQuestion:", "\n问题：", "\n問題：", "\n\n\n")
"""Stop strings for base models: after one solution they would start inventing the next question."""

_LABELS: dict[str, tuple[str, str]] = {
    "en": ("Question: ", "Solution:"),
    "zh": ("问题：", "解答："),
    "ja": ("問題：", "解答："),
}
"""Question and solution labels of the few-shot format, in the task's own language: a base model
continues a Japanese page more readily than a Japanese question under English headings."""


class TaskBase:
    """The defaults of the Task protocol's hooks; every family inherits from it. A family defines
    the rest (name ... score), and overrides a hook only where its format differs (humaneval)."""

    language: str
    completion_stop: tuple[str, ...] = COMPLETION_STOP

    def fewshot(self, seed: int, difficulty: Difficulty, k: int) -> list[FewShotExample]:
        raise NotImplementedError  # every family defines it; declared for completion_prompt

    def completion_prompt(self, instance: Instance, k: int) -> str:
        """k worked examples, then the question and an open 'Solution:' for the model to continue.

        Examples come from the task's few-shot stream for this seed and level, which never
        overlaps the evaluated instances. A zero k gives the bare question."""
        question_label, solution_label = _LABELS.get(self.language, _LABELS["en"])
        # The English solution label is followed by a space in the examples but not at the end,
        # so a model's continuation starts with its own whitespace, as in pretraining text.
        # Chinese and Japanese put no space after a full-width colon.
        gap = "" if self.language in ("zh", "ja") else " "
        blocks = [
            f"{question_label}{ex.question}\n{solution_label}{gap}{ex.solution}\n\n"
            for ex in self.fewshot(instance.seed, instance.difficulty, k)
        ]
        blocks.append(f"{question_label}{instance.question}\n{solution_label}")
        return "".join(blocks)

    def reference_output(self, instance: Instance) -> str | None:
        """None: the answer line is the ideal output (see the protocol)."""
        return None
