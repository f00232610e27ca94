"""`gapbench leaderboard` and `gapbench compare`: read the database, never write it."""

from __future__ import annotations

import click

from gapbench.cli.options import (
    db_option,
    json_option,
    load_results,
    margin_option,
    price_option,
    print_json,
    task_selection,
    wide_option,
    wide_requested,
)


def _task_names(task: str | None, suite: str | None) -> list[str] | None:
    from gapbench.tasks.suites import resolve_tasks

    if task is None and suite is None:
        return None
    return [t.name for t in resolve_tasks(task, suite)]


@click.command()
@task_selection
@db_option
@price_option
@json_option
@wide_option
def leaderboard(
    task: str | None, suite: str | None, db_path: str, usd_per_hour: float | None, as_json: bool
) -> None:
    """Accuracy with its 95% CI, pass@k, extraction failures, speed and cost of every model."""
    from gapbench.report.console import print_leaderboard
    from gapbench.stats.summary import summarize

    samples, accounting = load_results(db_path, _task_names(task, suite), None, usd_per_hour)
    rows = summarize(samples, accounting)
    if as_json:
        print_json([row.as_dict() for row in rows])
    else:
        title = f"Leaderboard ({db_path})"
        print_leaderboard(rows, title, accounting.usd_per_hour, wide=wide_requested())


@click.command()
@click.argument("model_a")
@click.argument("model_b")
@task_selection
@margin_option
@db_option
@json_option
def compare(
    model_a: str,
    model_b: str,
    task: str | None,
    suite: str | None,
    margin: float | None,
    db_path: str,
    as_json: bool,
) -> None:
    """Paired verdict between two models on the instances both answered: A ahead, behind, caught
    up within ±margin, or not yet known (with about how many more instances would tell)."""
    from gapbench.errors import UsageError
    from gapbench.report.console import print_verdicts
    from gapbench.stats.summary import compare_models

    if model_a == model_b:
        raise UsageError("Compare needs two different models.")
    samples, _ = load_results(db_path, _task_names(task, suite), [model_a, model_b], None)
    result = compare_models(samples, model_a, model_b, margin)
    if as_json:
        print_json(result.as_dict())
    else:
        print_verdicts([result])
