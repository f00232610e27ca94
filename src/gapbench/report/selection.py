"""Which stored samples a report, the server or an export looks at, as a SQL condition.

Like `gapbench leaderboard`, only the current version of each installed task counts (a new task
version generates or scores differently), optionally only some tasks and models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def check_models_known(stored: list[str], wanted: list[str], db_path: str) -> None:
    """UsageError naming the first model in `wanted` that has no results in the database."""
    from gapbench.errors import UsageError, closest

    for model in wanted:
        if model not in stored:
            raise UsageError(
                f"No results for model '{model}' in {db_path}.{closest(model, stored)} "
                f"Run `gapbench run --model {model} ...` first."
            )


@dataclass(frozen=True)
class Selection:
    """A filter over the samples table (aliased `s` in every query that uses it)."""

    tasks: tuple[str, ...] | None = None
    """Only these tasks; None for all."""
    models: tuple[str, ...] | None = None
    """Only these models; None for all."""
    versions: Mapping[str, str] = field(default_factory=dict)
    """Current version of each installed task: older versions are left out, tasks not listed
    (not installed here) are kept whole."""

    def where(self, alias: str = "s") -> tuple[str, list[Any]]:
        """`(condition, params)`: a SQL boolean expression over `alias` and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        for column, wanted in (("task", self.tasks), ("model_id", self.models)):
            if wanted is not None:
                parts.append(f"{alias}.{column} IN ({_marks(len(wanted))})")
                params.extend(wanted)
        if self.versions:
            names = sorted(self.versions)
            pairs = ", ".join("(?, ?)" for _ in names)
            parts.append(
                f"({alias}.task NOT IN ({_marks(len(names))}) "
                f"OR ({alias}.task, {alias}.task_version) IN (VALUES {pairs}))"
            )
            params.extend(names)
            for name in names:
                params.extend((name, self.versions[name]))
        return (" AND ".join(parts) or "1 = 1", params)


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def marks(values: Sequence[object]) -> str:
    """'?, ?, ?' for `values`."""
    return _marks(len(values))


def current_selection(
    tasks: Sequence[str] | None = None, models: Sequence[str] | None = None
) -> Selection:
    """A selection with the installed tasks' current versions."""
    from gapbench.tasks.registry import list_tasks

    return Selection(
        tasks=tuple(tasks) if tasks is not None else None,
        models=tuple(models) if models is not None else None,
        versions={t.name: t.version for t in list_tasks()},
    )
