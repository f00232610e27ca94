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
    """Tasks named by --task or --suite, each one name or a comma-separated list (a repeated
    flag arrives joined by commas); several suites give their tasks in order, each once.

    With neither, the default suite; with both, a UsageError, since the intent is unclear.
    """
    if task is not None and suite is not None:
        raise UsageError("Give either --task or --suite, not both.")
    if task is None:
        if suite is None:
            return get_suite(DEFAULT_SUITE)
        suites = _names(suite, "--suite", "--suite quick")
        tasks = {t.name: t for name in suites for t in get_suite(name)}
        return list(tasks.values())
    return [get_task(name) for name in _names(task, "--task", "--task arith")]


def _names(listed: str, flag: str, example: str) -> list[str]:
    names = [name.strip() for name in listed.split(",") if name.strip()]
    if not names:
        raise UsageError(f"{flag} is empty; name one, e.g. {example}.")
    return list(dict.fromkeys(names))
