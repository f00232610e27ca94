"""The one list of task families. Add a family here and every command sees it."""

from __future__ import annotations

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


def get_task(name: str) -> Task:
    """The task family called `name`; UsageError with suggestions when there is none."""
    if name.startswith("rg:"):  # reasoning-gym datasets: imported only when one is asked for
        from gapbench.tasks.reasoning_gym import make_rg_task

        return make_rg_task(name)
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


def check_level(task: Task, difficulty: Difficulty) -> None:
    """UsageError when `task` does not generate `difficulty` (fixed datasets have one level)."""
    if difficulty not in task.levels:
        raise UsageError(
            f"Task '{task.name}' has no '{difficulty}' level; use --difficulty "
            f"{' or '.join(task.levels)}."
        )
