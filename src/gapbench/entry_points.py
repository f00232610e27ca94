"""Plugins: other packages add backends and tasks through entry-point groups, with no edit here.

A distribution declares, in its pyproject.toml,

    [project.entry-points."gapbench.backends"]
    echo = "gapbench_echo:BACKEND"     # a gapbench.backends.registry.BackendEntry
    [project.entry-points."gapbench.tasks"]
    reverse = "gapbench_echo:ReverseTask"   # a Task instance, or a class made with no arguments

and gapbench finds it once installed (docs/adding-a-backend.md, docs/adding-a-task.md). A plugin
that fails to import is reported in one line on stderr and left out; the others still load.
GAPBENCH_NO_PLUGINS=1 loads none (to tell whether a plugin is behind a problem).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

BACKENDS_GROUP = "gapbench.backends"
TASKS_GROUP = "gapbench.tasks"

_reported: set[str] = set()


@dataclass(frozen=True)
class Loaded:
    """One entry point's object and the distribution it came from."""

    name: str
    value: object
    source: str
    """'distribution version', as `models list` and `tasks list` show it."""


def report_problem(message: str) -> None:
    """One line on stderr, once per process for the same message."""
    if message not in _reported:
        _reported.add(message)
        print(f"gapbench: {message}", file=sys.stderr)


def load_group(group: str) -> list[Loaded]:
    """The objects of every entry point in `group`, in a stable order (distribution, name)."""
    if os.environ.get("GAPBENCH_NO_PLUGINS", "").strip() not in ("", "0"):
        return []
    from importlib.metadata import entry_points

    found = sorted(
        entry_points(group=group),
        key=lambda ep: (ep.dist.name if ep.dist else "", ep.name),
    )
    loaded: list[Loaded] = []
    for point in found:
        source = f"{point.dist.name} {point.dist.version}" if point.dist else "unknown package"
        try:
            value = point.load()
        except Exception as exc:  # a broken plugin must not break gapbench or the other plugins
            report_problem(
                f"plugin {source} ({group}: {point.name} = {point.value}) failed to load "
                f"({type(exc).__name__}: {exc}); running without it (fix or uninstall it)."
            )
            continue
        loaded.append(Loaded(point.name, value, source))
    return loaded
