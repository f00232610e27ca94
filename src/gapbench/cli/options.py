"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from gapbench.perf.attribution import Accounting
    from gapbench.store.records import SampleRecord
    from gapbench.store.repository import Store

F = TypeVar("F", bound=Callable[..., Any])


def _conceal_password(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A PostgreSQL URL's password leaves the value here, so no title, message or report that
    shows the database can show it (store/location.py)."""
    from gapbench.store.location import conceal

    return conceal(value)


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        metavar="PATH|URL",
        envvar="GAPBENCH_DB",
        default="gapbench.db",
        show_default=True,
        callback=_conceal_password,
        help="SQLite results file, or a shared PostgreSQL database as "
        "postgresql://user@host:5432/name (the postgres extra); or set GAPBENCH_DB.",
    )(func)


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables."
    )(func)


WIDE = "gapbench.wide"


def wide_option(func: F) -> F:
    """--wide, kept in the click context (see wide_requested) rather than passed as a parameter,
    so that commands printing tables deep down (run, demo) need no extra argument."""

    def remember(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        ctx.meta[WIDE] = value
        return value

    return click.option(
        "--wide",
        is_flag=True,
        expose_value=False,
        callback=remember,
        help="Show every column of tables, even past the terminal's width (by default columns "
        "that do not fit are left out, least important first, and named under the table).",
    )(func)


def wide_requested() -> bool:
    """Whether the running command was given --wide (False outside a click command)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(WIDE, False))


def _joined(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> str | None:
    """Every --task (or --suite) given, as the one comma-separated list the commands take (a
    repeated option that kept only its last value would drop the others without a word)."""
    return ",".join(value) if value else None


def task_selection(func: F) -> F:
    func = click.option(
        "--suite",
        multiple=True,
        callback=_joined,
        metavar="SUITE",
        help="A suite of tasks, e.g. 'quick'; for several, repeat --suite or list them: "
        "'math,code'.",
    )(func)
    func = click.option(
        "--task",
        multiple=True,
        callback=_joined,
        metavar="TASK",
        help="A task, e.g. 'arith'; for several, repeat --task or list them: 'arith,logic'.",
    )(func)
    return func


def print_json(payload: object) -> None:
    import json

    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))


def open_store(db_path: str, *, readonly: bool = False) -> Store:
    """Open the results database (store.repository.open_store)."""
    from gapbench.store.repository import open_store as open_results_store

    return open_results_store(db_path, readonly=readonly)


def finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Click callback: refuse nan and inf, which FloatRange lets through (nan compares false with
    every bound) and which JSON cannot store."""
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number; give one such as 0.8.")
    return value


DEFAULT_MARGIN_PTS = 5.0
"""stats/equivalence.py DEFAULT_MARGIN in points, written here so that `--help` does not import
the statistics (a test checks the two agree)."""


def margin_fraction(points: float) -> float:
    """A --margin in points as a fraction, or UsageError unless it is above 0 and at most 100:
    one check and one sentence for every command that takes a margin."""
    import math

    from gapbench.errors import UsageError

    if not (math.isfinite(points) and 0.0 < points <= 100.0):
        raise UsageError(
            f"--margin {points:g} is not a gap in points: give one above 0 and at most 100, "
            "e.g. --margin 5."
        )
    return points / 100.0


def _margin_points(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Click callback: a margin in points, returned as a fraction (margin_fraction)."""
    return None if value is None else margin_fraction(value)


def margin_option(func: F) -> F:
    """--margin PTS, passed to the command as a fraction (None when not given)."""
    return click.option(
        "--margin",
        type=float,
        metavar="PTS",
        callback=_margin_points,
        default=None,
        help="Equivalence margin in points: 'caught up' when the 90% CI of the paired gap lies "
        f"inside ±PTS (default {DEFAULT_MARGIN_PTS:g}; README, 'Verdicts').",
    )(func)


def price_option(func: F) -> F:
    return click.option(
        "--usd-per-hour",
        type=click.FloatRange(min=0),
        callback=finite,
        default=None,
        help="Hardware price for local models' cost (else GAPBENCH_USD_PER_HOUR, gapbench.toml, "
        "~/.config/gapbench/config.toml, or $0.10).",
    )(func)


def check_prices(usd_per_hour: float | None) -> None:
    """Read every price setting (flag, environment, gapbench.toml and the user config) now, so a
    malformed file or a negative price stops a run before its first sample, not after its last."""
    from gapbench.perf.cost import hardware_price, token_prices

    hardware_price(usd_per_hour)
    token_prices()


def load_results(
    db_path: str,
    task_names: list[str] | None,
    model_ids: list[str] | None,
    usd_per_hour: float | None,
    keep: Callable[[SampleRecord], bool] | None = None,
) -> tuple[list[SampleRecord], Accounting]:
    """Stored samples (failed ones included; only those `keep` accepts, when given) and what is
    needed to charge them time and money. Runs whose process is gone are marked interrupted on
    the way, where the file can be written (see Store.reap_dead_runs)."""
    import time

    from gapbench.backends.registry import billing_of
    from gapbench.perf.attribution import Accounting, account_runs
    from gapbench.perf.cost import hardware_price, token_prices
    from gapbench.report.selection import check_models_known
    from gapbench.stats.summary import current_versions
    from gapbench.tasks.registry import list_tasks

    price = hardware_price(usd_per_hour)
    with open_store(db_path, readonly=True) as store:
        store.reap_dead_runs(time.time())
        if model_ids is not None:
            check_models_known(store.models(), model_ids, db_path)
        stored = store.samples(model_ids=model_ids, tasks=task_names, include_failed=True)
        if keep is not None:
            stored = [s for s in stored if keep(s)]
        runs = account_runs(store.runs(), store.run_latency_totals(), billing_of)
    samples, hidden = current_versions(stored, {t.name: t.version for t in list_tasks()})
    if hidden:
        click.echo(
            f"Note: {hidden} stored samples of older task versions are left out "
            "(rerun those tasks to measure the current version).",
            err=True,
        )
    return samples, Accounting(runs=runs, hardware=price, token_prices=token_prices())
