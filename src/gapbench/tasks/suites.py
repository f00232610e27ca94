"""Named groups of tasks, and turning --task/--suite options into task objects."""

from __future__ import annotations

from gapbench.errors import UsageError, closest
from gapbench.tasks.base import Task
from gapbench.tasks.registry import get_task

DEFAULT_SUITE = "quick"

SUITES: dict[str, tuple[str, ...]] = {
    "quick": ("arith", "logic", "zh_arith"),
}


def get_suite(name: str) -> list[Task]:
    """The tasks of suite `name`; UsageError with suggestions when there is none."""
    try:
        members = SUITES[name]
    except KeyError:
        known = sorted(SUITES)
        raise UsageError(
            f"Unknown suite '{name}'.{closest(name, known)} Known suites: {', '.join(known)}."
        ) from None
    return [get_task(member) for member in members]


def resolve_tasks(task: str | None, suite: str | None) -> list[Task]:
    """Tasks named by --task (one name or a comma-separated list) or --suite.

    With neither, the default suite; with both, a UsageError, since the intent is unclear.
    """
    if task is not None and suite is not None:
        raise UsageError("Give either --task or --suite, not both.")
    if task is None:
        return get_suite(suite if suite is not None else DEFAULT_SUITE)
    names = [name.strip() for name in task.split(",") if name.strip()]
    if not names:
        raise UsageError("--task is empty; name a task, e.g. --task arith.")
    return [get_task(name) for name in dict.fromkeys(names)]
