"""How instances become requests: chat messages for instruct models, few-shot text for base models,
and the request id that names an instance so that any process can rebuild it."""

from __future__ import annotations

from gapbench.backends.types import ChatMessage
from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance, Task

COMPLETION_STOP: tuple[str, ...] = ("\nQuestion:", "\n问题：", "\n問題：", "\n\n\n")
"""Stop strings for base models: after one solution they would start inventing the next question."""

_LABELS: dict[str, tuple[str, str]] = {
    "en": ("Question: ", "Solution:"),
    "zh": ("问题：", "解答："),
    "ja": ("問題：", "解答："),
}
"""Question and solution labels of the few-shot format, in the task's own language: a base model
continues a Japanese page more readily than a Japanese question under English headings."""


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
    """Chinese and Japanese put no space after a full-width colon."""
    return "" if task.language in ("zh", "ja") else " "


def request_id(instance: Instance, draw: int = 0) -> str:
    """'task|version|seed|index|difficulty', plus '|draw' for draws after the first: names the
    sample; parse_request_id and parse_request_draw invert it.

    Draw 0 keeps the 5-field form, so a single-draw request is named exactly as before the draw
    existed (the scripted backend's answers, which hash the id, stay the same)."""
    base = (
        f"{instance.task}|{instance.task_version}|{instance.seed}|{instance.index}|"
        f"{instance.difficulty}"
    )
    return base if draw == 0 else f"{base}|{draw}"


def _split_request_id(text: str) -> list[str]:
    parts = text.split("|")
    if len(parts) not in (5, 6):
        raise ValueError(f"request id {text!r} does not have 5 or 6 '|'-separated fields")
    return parts


def parse_request_id(text: str) -> tuple[str, str, int, int, Difficulty]:
    """(task, version, seed, index, difficulty) from a request id, whatever its draw; ValueError
    when malformed."""
    task, version, seed, index, difficulty = _split_request_id(text)[:5]
    parse_request_draw(text)  # a malformed draw makes the whole id malformed
    for level in DIFFICULTIES:
        if difficulty == level:
            return task, version, int(seed), int(index), level
    raise ValueError(f"request id {text!r} has unknown difficulty {difficulty!r}")


def parse_request_draw(text: str) -> int:
    """The draw a request id names (0 for the 5-field form); ValueError when malformed."""
    parts = _split_request_id(text)
    if len(parts) == 5:
        return 0
    draw = int(parts[5])
    # '|0' would give draw 0 a second name, and a negative draw names nothing.
    if draw < 1 or parts[5] != str(draw):
        raise ValueError(f"request id {text!r} has invalid draw {parts[5]!r}")
    return draw
