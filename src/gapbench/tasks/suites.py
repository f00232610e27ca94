"""Named groups of tasks, and turning --task/--suite options into task objects.

Besides `quick` (the demo's three families) and `full` (everything registered), there is one suite
per task area ('math', 'logic', 'cjk', 'instruct', 'code', ...), derived from the registry so that
a new family joins its area's suite without a second list to keep in sync.
"""

from __future__ import annotations

from gapbench.errors import UsageError, closest
from gapbench.tasks.base import Task
from gapbench.tasks.registry import TASKS, get_task

DEFAULT_SUITE = "quick"


def _area_suites() -> dict[str, tuple[str, ...]]:
    areas: dict[str, list[str]] = {}
    for task in TASKS.values():
        areas.setdefault(task.area, []).append(task.name)
    return {area: tuple(names) for area, names in areas.items()}


SUITES: dict[str, tuple[str, ...]] = {
    "quick": ("arith", "logic", "zh_arith"),
    **_area_suites(),
    "full": tuple(TASKS),
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
