"""The one list of task families. Add a family here and every command sees it."""

from __future__ import annotations

from gapbench.errors import UsageError, closest
from gapbench.tasks.arith import ArithTask
from gapbench.tasks.base import Task
from gapbench.tasks.cjk import ZhArithTask
from gapbench.tasks.logic import LogicTask

_ALL: tuple[Task, ...] = (ArithTask(), LogicTask(), ZhArithTask())

TASKS: dict[str, Task] = {task.name: task for task in _ALL}


def get_task(name: str) -> Task:
    """The task family called `name`; UsageError with suggestions when there is none."""
    try:
        return TASKS[name]
    except KeyError:
        known = sorted(TASKS)
        raise UsageError(
            f"Unknown task '{name}'.{closest(name, known)} Known tasks: {', '.join(known)}."
        ) from None


def list_tasks() -> list[Task]:
    """Every task family, in registration order."""
    return list(TASKS.values())
