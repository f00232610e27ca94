"""`gapbench leaderboard` and `gapbench compare`: read the database, never write it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gapbench.cli.options import db_option, json_option, open_store, print_json, task_selection

if TYPE_CHECKING:
    from gapbench.store.records import SampleRecord


def _load_samples(
    db_path: str, task: str | None, suite: str | None, model_ids: list[str] | None = None
) -> list[SampleRecord]:
    from gapbench.tasks.suites import resolve_tasks

    task_names = None
    if task is not None or suite is not None:
        task_names = [t.name for t in resolve_tasks(task, suite)]
    with open_store(db_path, readonly=True) as store:
        if model_ids is not None:
            _check_models_known(store.models(), model_ids, db_path)
        return store.samples(model_ids=model_ids, tasks=task_names, include_failed=True)


def _check_models_known(stored: list[str], wanted: list[str], db_path: str) -> None:
    from gapbench.errors import UsageError, closest

    for model in wanted:
        if model not in stored:
            raise UsageError(
                f"No results for model '{model}' in {db_path}.{closest(model, stored)} "
                f"Run `gapbench run --model {model} ...` first."
            )


@click.command()
@task_selection
@db_option
@json_option
def leaderboard(task: str | None, suite: str | None, db_path: str, as_json: bool) -> None:
    """Accuracy (95% Wilson CI), extraction failures and speed of every stored model."""
    from gapbench.report.console import print_leaderboard
    from gapbench.stats.summary import summarize

    rows = summarize(_load_samples(db_path, task, suite))
    if as_json:
        print_json([row.as_dict() for row in rows])
    else:
        print_leaderboard(rows, title=f"Leaderboard ({db_path})")


@click.command()
@click.argument("model_a")
@click.argument("model_b")
@task_selection
@db_option
@json_option
def compare(
    model_a: str, model_b: str, task: str | None, suite: str | None, db_path: str, as_json: bool
) -> None:
    """Paired verdict between two models on the instances both answered."""
    from gapbench.errors import UsageError
    from gapbench.report.console import print_verdicts
    from gapbench.stats.paired import compare_paired
    from gapbench.stats.summary import paired_outcomes

    if model_a == model_b:
        raise UsageError("Compare needs two different models.")
    samples = _load_samples(db_path, task, suite, [model_a, model_b])
    a, b = paired_outcomes(samples, model_a, model_b)
    result = compare_paired(model_a, model_b, a, b)
    if as_json:
        print_json(result.as_dict())
    else:
        print_verdicts([result])
