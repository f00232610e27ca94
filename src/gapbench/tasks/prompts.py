"""How instances become requests: chat messages for instruct models, few-shot text for base models,
and the request id that names an instance so that any process can rebuild it."""

from __future__ import annotations

from gapbench.backends.types import ChatMessage
from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance, Task

COMPLETION_STOP: tuple[str, ...] = ("\nQuestion:", "\n问题：", "\n\n\n")
"""Stop strings for base models: after one solution they would start inventing the next question."""

_LABELS: dict[str, tuple[str, str]] = {
    "en": ("Question: ", "Solution:"),
    "zh": ("问题：", "解答："),
}


def chat_messages(task: Task, instance: Instance) -> tuple[ChatMessage, ...]:
    """One user message: the question and the task's answer-format instruction."""
    return (ChatMessage(role="user", content=task.chat_prompt(instance)),)


def completion_prompt(task: Task, instance: Instance, k: int = 3) -> str:
    """k worked examples, then the question and an open 'Solution:' for the model to continue.

    Examples come from the task's few-shot stream for this seed and level, which never overlaps the
    evaluated instances. A zero k gives the bare question. A task whose format is not question and
    solution (HumanEval continues a function body) supplies its own `completion_prompt`.
    """
    own = getattr(task, "completion_prompt", None)
    if callable(own):
        return str(own(instance, k))
    question_label, solution_label = _LABELS.get(task.language, _LABELS["en"])
    # The English solution label is followed by a space in the examples but not at the end, so a
    # model's continuation starts with its own whitespace, as in pretraining text.
    blocks = [
        f"{question_label}{ex.question}\n{solution_label}{_gap(task)}{ex.solution}\n\n"
        for ex in task.fewshot(instance.seed, instance.difficulty, k)
    ]
    blocks.append(f"{question_label}{instance.question}\n{solution_label}")
    return "".join(blocks)


def completion_stop(task: Task) -> tuple[str, ...]:
    """Stop strings that end a base model's completion after one answer: the task's own, if it
    defines them, else the question-and-solution format's."""
    own = getattr(task, "completion_stop", None)
    return tuple(own) if own else COMPLETION_STOP


def _gap(task: Task) -> str:
    return "" if task.language == "zh" else " "


def request_id(instance: Instance) -> str:
    """'task|version|seed|index|difficulty': names the instance; parse_request_id inverts it."""
    return (
        f"{instance.task}|{instance.task_version}|{instance.seed}|{instance.index}|"
        f"{instance.difficulty}"
    )


def parse_request_id(text: str) -> tuple[str, str, int, int, Difficulty]:
    """(task, version, seed, index, difficulty) from a request id; ValueError when malformed."""
    parts = text.split("|")
    if len(parts) != 5:
        raise ValueError(f"request id {text!r} does not have 5 '|'-separated fields")
    task, version, seed, index, difficulty = parts
    for level in DIFFICULTIES:
        if difficulty == level:
            return task, version, int(seed), int(index), level
    raise ValueError(f"request id {text!r} has unknown difficulty {difficulty!r}")
