"""The options of `gapbench run --until-verdict` and their checks, kept out of run_cmds.py; the
loop itself is gapbench/sequential_run.py."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from gapbench.backends.registry import BackendOptions
    from gapbench.catalog.types import ModelSpec
    from gapbench.runner import BackendFactory, RunConfig
    from gapbench.sequential_run import Budget, SequentialResult
    from gapbench.tasks.base import Task

F = TypeVar("F", bound=Callable[..., Any])

SCHEDULE = "10, 12, 15, 18, 22, 27, 33, ... instances per task (1.2x a round)"


def until_verdict_options(func: F) -> F:
    """--until-verdict, --margin and the three budgets. Their values are checked in the
    command (check_until_verdict), so that each mistake gets one sentence and exit 2."""
    options = [
        click.option(
            "--until-verdict",
            is_flag=True,
            help=f"Draw fresh instances in rounds of {SCHEDULE} until every pair of models is "
            "settled by an anytime-valid 95% confidence sequence (one leads, or they are level "
            "within --margin) or a budget is spent; prints each verdict as it comes. A rerun "
            "resumes from what is stored.",
        ),
        click.option(
            "--margin",
            type=float,
            metavar="PTS",
            default=None,
            help="With --until-verdict: how close in points counts as caught up (default 5).",
        ),
        click.option(
            "--max-n",
            type=int,
            default=None,
            help="With --until-verdict: at most this many instances per task (default 500).",
        ),
        click.option(
            "--max-usd",
            type=float,
            default=None,
            help="With --until-verdict: no round that would take the cost of the samples past "
            "this many dollars (as the leaderboard charges them).",
        ),
        click.option(
            "--max-minutes",
            type=float,
            default=None,
            help="With --until-verdict: no round that would run past this many minutes of "
            "wall time.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def check_until_verdict(
    until_verdict: bool,
    margin: float | None,
    max_n: int | None,
    max_usd: float | None,
    max_minutes: float | None,
    n_given: bool,
) -> tuple[float, Budget]:
    """The margin (a fraction) and budget, or UsageError, before anything is opened."""
    from gapbench.cli.options import margin_fraction
    from gapbench.cli.run_cmds import MAX_N
    from gapbench.errors import UsageError
    from gapbench.sequential_run import DEFAULT_MAX_N, Budget
    from gapbench.stats.equivalence import DEFAULT_MARGIN

    fraction = None if margin is None else margin_fraction(margin)
    if not until_verdict:
        if margin is not None:
            raise UsageError(
                "--margin sets how close counts as caught up for --until-verdict: add "
                "--until-verdict, or judge stored results with `gapbench compare A B --margin "
                f"{margin:g}`."
            )
        given = [
            flag
            for flag, value in (("--max-n", max_n), ("--max-usd", max_usd),
                                ("--max-minutes", max_minutes))
            if value is not None
        ]  # fmt: skip
        if given:
            raise UsageError(
                f"{' and '.join(given)} {'is a budget' if len(given) == 1 else 'are budgets'} "
                "of --until-verdict: add --until-verdict, or set the instances with --n."
            )
        return DEFAULT_MARGIN, Budget()
    if n_given:
        raise UsageError(
            f"--until-verdict draws instances in rounds ({SCHEDULE}) and stops by itself: drop "
            "--n, and cap the instances per task with --max-n."
        )
    if max_n is not None and not 1 <= max_n <= MAX_N:
        raise UsageError(
            f"--max-n {max_n:,} leaves no instance to draw: give from 1 to {MAX_N:,} instances "
            f"per task (the default is {DEFAULT_MAX_N})."
            if max_n < 1
            else f"--max-n {max_n:,} is out of range: give at most {MAX_N:,} instances per task."
        )
    for flag, value, unit, example in (
        ("--max-usd", max_usd, "dollars", "--max-usd 2"),
        ("--max-minutes", max_minutes, "minutes", "--max-minutes 30"),
    ):
        if value is not None and not (math.isfinite(value) and value > 0):
            what = (
                "leaves nothing to spend" if math.isfinite(value) else f"is not a number of {unit}"
            )
            raise UsageError(
                f"{flag} {value:g} {what}: give the most {unit} the run may take, above 0, "
                f"e.g. {example}."
            )
    budget = Budget(
        max_n=DEFAULT_MAX_N if max_n is None else max_n,
        max_usd=max_usd,
        max_minutes=max_minutes,
    )
    return (DEFAULT_MARGIN if fraction is None else fraction), budget


def check_models_and_tasks(models: list[ModelSpec], tasks: list[Task], budget: Budget) -> None:
    """UsageError unless there are two models to compare and fresh instances to draw, and the
    dollar budget can be charged."""
    from gapbench.errors import UsageError

    if len({m.id for m in models}) < 2:
        raise UsageError(
            "--until-verdict compares models pair by pair: give at least two different --model."
        )
    fixed = [t.name for t in tasks if t.kind == "fixed"]
    if fixed:
        raise UsageError(
            f"{', '.join(fixed)} is a fixed set of problems in a set order, not fresh random "
            "draws, which the confidence sequence needs: run it with a plain --n, or leave it "
            "out of --until-verdict."
        )
    if budget.max_usd is not None:
        from gapbench.backends.registry import entry_of
        from gapbench.perf.cost import token_prices

        prices = token_prices()
        for spec in models:
            if entry_of(spec).billing == "tokens" and spec.id not in prices:
                raise UsageError(
                    f"No price is known for {spec.id}, so --max-usd cannot be kept: add "
                    f'[prices."{spec.id}"] to gapbench.toml, or use --max-n or --max-minutes.'
                )


def execute_until_verdict(
    config: RunConfig,
    db_path: str,
    options: BackendOptions,
    budget: Budget,
    margin: float,
    usd_per_hour: float | None,
    load: BackendFactory | None = None,
) -> SequentialResult:
    """Open the database and run the rounds, printing decisions as they come. `load` replaces
    the loader that pulls and opens models (a test replaying stored rounds passes one that
    refuses)."""
    from gapbench.backends.registry import billing_of, model_loader
    from gapbench.cli.options import open_store
    from gapbench.perf.attribution import Accounting, account_runs
    from gapbench.perf.cost import hardware_price, token_prices
    from gapbench.report.progress import RichProgress
    from gapbench.report.sequential import SequentialPrinter
    from gapbench.sequential_run import run_until_verdict

    price = hardware_price(usd_per_hour)
    prices = token_prices()
    with open_store(db_path) as store:

        def accounting() -> Accounting:
            runs = account_runs(store.runs(), store.run_latency_totals(), billing_of)
            return Accounting(runs=runs, hardware=price, token_prices=prices)

        return run_until_verdict(
            config,
            store,
            load or model_loader(options),
            budget,
            SequentialPrinter(len(config.tasks)),
            RichProgress,
            accounting,
            margin=margin,
        )
