"""`gapbench gap`: the gap between the best model of each origin; reads the database only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gapbench.cli.options import (
    db_option,
    json_option,
    load_results,
    margin_option,
    task_selection,
    wide_option,
    wide_requested,
)

if TYPE_CHECKING:
    from gapbench.stats.gap import ModelOrigin, OriginGap
    from gapbench.store.records import SampleRecord


def _origins(models: list[str]) -> dict[str, ModelOrigin]:
    """Origin and release date of each stored model id, as the catalog knows them."""
    from gapbench.backends.references import stored_origin
    from gapbench.stats.gap import ModelOrigin

    return {model: ModelOrigin(*stored_origin(model)) for model in models}


def _require_both(origins: dict[str, ModelOrigin], wanted: tuple[str, str], db_path: str) -> None:
    """UsageError unless both origins have a model with results: with one side empty there is
    no gap to measure."""
    from gapbench.catalog.loader import list_models
    from gapbench.errors import UsageError

    for origin in wanted:
        if any(o.origin == origin for o in origins.values()):
            continue
        found = sorted({o.origin for o in origins.values()})
        held = f"holds {' and '.join(found)} models only" if found else "holds no results"
        example = next((m.id for m in list_models() if m.origin == origin), None)
        model = example or f"'scripted:NAME?origin={origin}'"
        raise UsageError(
            f"No {origin} model has results for these tasks ({db_path} {held}): run one on the "
            f"same tasks and seed first, e.g. `gapbench run --model {model} ...`, then rerun "
            "`gapbench gap`."
        )


def overall_origin_gap(samples: list[SampleRecord], margin: float | None) -> OriginGap | None:
    """The overall gap between the best CN and the best US model among `samples`, or None when
    one origin has no model there (what `gapbench run` prints after its verdicts)."""
    from gapbench.stats.equivalence import DEFAULT_MARGIN
    from gapbench.stats.gap import FIRST_ORIGIN, SECOND_ORIGIN, origin_gaps

    answered = [s for s in samples if s.error is None]
    origins = _origins(sorted({s.key.model_id for s in answered}))
    found = {o.origin for o in origins.values()}
    if FIRST_ORIGIN not in found or SECOND_ORIGIN not in found:
        return None
    report = origin_gaps(answered, origins, DEFAULT_MARGIN if margin is None else margin)
    return report.overall


@click.command()
@click.option(
    "--by",
    type=click.Choice(["origin"]),
    default="origin",
    show_default=True,
    help="What groups the models: the catalog's origin (country of the organisation).",
)
@task_selection
@margin_option
@db_option
@json_option
@wide_option
def gap(
    by: str,
    task: str | None,
    suite: str | None,
    margin: float | None,
    db_path: str,
    as_json: bool,
) -> None:
    """Best CN model against best US model, per task, overall and as of each release date."""
    from gapbench.cli.options import print_json
    from gapbench.cli.read_cmds import _task_names
    from gapbench.report.console import print_gap
    from gapbench.stats.equivalence import DEFAULT_MARGIN
    from gapbench.stats.gap import FIRST_ORIGIN, SECOND_ORIGIN, origin_gaps

    del by  # origin is the one grouping so far
    samples, _ = load_results(db_path, _task_names(task, suite), None, None)
    answered = [s for s in samples if s.error is None]
    origins = _origins(sorted({s.key.model_id for s in answered}))
    _require_both(origins, (FIRST_ORIGIN, SECOND_ORIGIN), db_path)
    report = origin_gaps(answered, origins, DEFAULT_MARGIN if margin is None else margin)
    if as_json:
        print_json(report.as_dict())
    else:
        title = f"Best {FIRST_ORIGIN} against best {SECOND_ORIGIN} ({db_path})"
        print_gap(report, title, wide=wide_requested())
