"""The one list of task families. Add a family here, or in a plugin package through the
`gapbench.tasks` entry-point group (docs/adding-a-task.md), and every command sees it."""

from __future__ import annotations

import functools

from gapbench.errors import UsageError, closest
from gapbench.tasks.arith import ArithTask
from gapbench.tasks.base import Difficulty, Task
from gapbench.tasks.boolean import BooleanTask
from gapbench.tasks.cjk import ZhArithTask
from gapbench.tasks.cjk_numbers import JaNumbersTask, ZhNumbersTask
from gapbench.tasks.code import CodeGenTask
from gapbench.tasks.fractions_task import FractionsTask
from gapbench.tasks.humaneval import HumanEvalTask
from gapbench.tasks.if_json import IfJsonTask
from gapbench.tasks.if_words import IfWordsTask
from gapbench.tasks.ja_arith import JaArithTask
from gapbench.tasks.ja_era import JaEraTask
from gapbench.tasks.knights import KnightsTask
from gapbench.tasks.linear import LinearTask
from gapbench.tasks.lists import ListsTask
from gapbench.tasks.logic import LogicTask
from gapbench.tasks.modular import ModularTask
from gapbench.tasks.percent import PercentTask

_ALL: tuple[Task, ...] = (
    # The first three are the `quick` suite of the demo; order here is the order of `tasks list`.
    ArithTask(),
    LogicTask(),
    ZhArithTask(),
    FractionsTask(),
    PercentTask(),
    ModularTask(),
    LinearTask(),
    KnightsTask(),
    BooleanTask(),
    ListsTask(),
    JaArithTask(),
    ZhNumbersTask(),
    JaNumbersTask(),
    JaEraTask(),
    IfWordsTask(),
    IfJsonTask(),
    CodeGenTask(),
    HumanEvalTask(),
)

TASKS: dict[str, Task] = {task.name: task for task in _ALL}
"""The built-in families (the `full` suite); plugins' are added by `registered_tasks`."""

BUILTIN = "gapbench"


@functools.cache
def _plugin_tasks() -> dict[str, tuple[Task, str]]:
    """Plugins' task families by name, with the distribution each came from."""
    from gapbench.entry_points import TASKS_GROUP, load_group, report_problem

    found: dict[str, tuple[Task, str]] = {}
    for loaded in load_group(TASKS_GROUP):
        value = loaded.value
        try:
            task = value() if isinstance(value, type) else value
        except Exception as exc:  # a broken plugin must not break the other tasks
            report_problem(
                f"plugin {loaded.source} ({TASKS_GROUP}: {loaded.name}) failed to start "
                f"({type(exc).__name__}: {exc}); running without it."
            )
            continue
        if not isinstance(task, Task):
            report_problem(
                f"plugin {loaded.source} ({TASKS_GROUP}: {loaded.name}) is not a gapbench Task "
                "(a Task has name, version, instance, chat_prompt, fewshot, score and the hooks "
                "TaskBase gives: inherit gapbench.tasks.base.TaskBase); left out."
            )
            continue
        taken = (
            TASKS.get(task.name) is not None or task.name in found or task.name.startswith("rg:")
        )
        if taken:
            report_problem(
                f"plugin {loaded.source} registers task '{task.name}', a name already taken; "
                "it is left out."
            )
            continue
        found[task.name] = (task, loaded.source)
    return found


def registered_tasks() -> dict[str, Task]:
    """Every task family by name: built-in first, in `tasks list` order, then plugins'."""
    return {**TASKS, **{name: task for name, (task, _) in _plugin_tasks().items()}}


def task_source(name: str) -> str:
    """Where a task family comes from: 'gapbench' or a plugin's 'distribution version'."""
    plugin = _plugin_tasks().get(name)
    return BUILTIN if plugin is None else plugin[1]


def get_task(name: str) -> Task:
    """The task family called `name`; UsageError with suggestions when there is none."""
    if name.startswith("rg:"):  # reasoning-gym datasets: imported only when one is asked for
        from gapbench.tasks.reasoning_gym import make_rg_task

        return make_rg_task(name)
    tasks = registered_tasks()
    try:
        return tasks[name]
    except KeyError:
        known = sorted(tasks)
        raise UsageError(
            f"Unknown task '{name}'.{closest(name, known)} Known tasks: {', '.join(known)}."
        ) from None


def list_tasks() -> list[Task]:
    """Every task family, in registration order (built-in, then plugins')."""
    return list(registered_tasks().values())


def check_level(task: Task, difficulty: Difficulty) -> None:
    """UsageError when `task` does not generate `difficulty` (fixed datasets have one level)."""
    if difficulty not in task.levels:
        raise UsageError(
            f"Task '{task.name}' has no '{difficulty}' level; use --difficulty "
            f"{' or '.join(task.levels)}."
        )
