"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from gapbench.store.repository import Store

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        envvar="GAPBENCH_DB",
        default="gapbench.db",
        show_default=True,
        help="SQLite results database (or set GAPBENCH_DB).",
    )(func)


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables."
    )(func)


def task_selection(func: F) -> F:
    func = click.option("--suite", default=None, help="A suite of tasks, e.g. 'quick'.")(func)
    func = click.option("--task", default=None, help="A single task, e.g. 'arith'.")(func)
    return func


def print_json(payload: object) -> None:
    import json

    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))


def open_store(db_path: str, *, readonly: bool = False) -> Store:
    """Open the results database; GAPBENCH_BUSY_TIMEOUT (seconds) bounds the wait for a lock."""
    import os

    from gapbench.errors import UsageError
    from gapbench.store.repository import Store

    raw = os.environ.get("GAPBENCH_BUSY_TIMEOUT", "5")
    try:
        busy_timeout = float(raw)
    except ValueError:
        raise UsageError(
            f"GAPBENCH_BUSY_TIMEOUT must be a number of seconds, not '{raw}'."
        ) from None
    return Store.open(db_path, readonly=readonly, busy_timeout=busy_timeout)
