"""Paired verdicts of every pair of models and the gap between origins, from SQL-read outcomes.

The same statistics as `gapbench compare` and `gapbench gap` (stats/paired.py, stats/gap.py),
fed with per-instance correctness that SQLite has already paired (report/outcomes.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace

from gapbench.report.outcomes import (
    columns_from_counts,
    pair_counts,
    phrasing_counts,
    shared_columns,
    styles_by_model,
)
from gapbench.report.selection import Selection
from gapbench.stats.gap import GapReport, ModelOrigin, OriginGap
from gapbench.stats.paired import PairedComparison
from gapbench.stats.summary import OVERALL


def pairwise(
    conn: sqlite3.Connection, sel: Selection, ranked: Sequence[str], margin: float
) -> list[PairedComparison]:
    """Every pair of `ranked` models (A listed before B), Holm-adjusted together, as
    stats/summary.py `pairwise` (leaderboard order) and `compare_models` (one pair) have them."""
    from gapbench.stats.paired import compare_paired, holm_verdicts

    counts = pair_counts(conn, sel, ranked)
    styles = styles_by_model(conn, sel)
    comparisons = []
    for (a, b), pair in counts.items():
        col_a, col_b = columns_from_counts(pair)
        comparison = compare_paired(a, b, col_a, col_b, margin=margin)
        if len(styles.get(a, set()) & styles.get(b, set())) >= 2:
            gaps = _phrasing_gaps(conn, sel, a, b)
            if gaps:
                comparison = comparison.with_phrasing_gaps(gaps)
        comparisons.append(comparison)
    return holm_verdicts(comparisons)


def _phrasing_gaps(conn: sqlite3.Connection, sel: Selection, a: str, b: str) -> dict[str, float]:
    gaps = {
        style: (right_a - right_b) / n
        for style, (n, right_a, right_b) in sorted(phrasing_counts(conn, sel, a, b).items())
        if n
    }
    return gaps if len(gaps) > 1 else {}


def origin_gaps(
    conn: sqlite3.Connection,
    sel: Selection,
    origins: Mapping[str, ModelOrigin],
    margin: float,
    first: str,
    second: str,
) -> GapReport:
    """stats/gap.py `origin_gaps` on SQL-read outcomes: per task, overall, and as of each
    release date."""
    from gapbench.stats.gap import GAP_RESAMPLES

    of_first = sorted(m for m, o in origins.items() if o.origin == first)
    of_second = sorted(m for m, o in origins.items() if o.origin == second)
    tasks = []
    for task in _answered_tasks(conn, sel):
        task_sel = replace(sel, tasks=(task,))
        answered = set(_answered_models(conn, task_sel))
        a = [m for m in of_first if m in answered]
        b = [m for m in of_second if m in answered]
        shared = shared_columns(conn, task_sel, [*a, *b])
        tasks.append(
            _row(task, shared.correct, len(shared.instances), (a, b), margin, first, second)
        )
    shared = shared_columns(conn, sel, [*of_first, *of_second])
    n_shared = len(shared.instances)
    overall = _row(OVERALL, shared.correct, n_shared, (of_first, of_second), margin, first, second)
    dates = sorted({o.released for m, o in origins.items() if m in shared.correct and o.released})
    timeline = []
    # A date whose released models are those of the overall row has the overall row's gap (the
    # same columns and resamples): reuse it instead of bootstrapping again.
    done = {(tuple(of_first), tuple(of_second)): overall}
    for date in dates:
        a = [m for m in of_first if (d := origins[m].released) is not None and d <= date]
        b = [m for m in of_second if (d := origins[m].released) is not None and d <= date]
        row = done.get((tuple(a), tuple(b)))
        if row is None or row.diff is None:
            row = _row(OVERALL, shared.correct, n_shared, (a, b), margin, first, second, date)
            done[(tuple(a), tuple(b))] = row
        timeline.append(replace(row, as_of=date))
    return GapReport(
        first=first,
        second=second,
        margin=margin,
        n_resamples=GAP_RESAMPLES,
        tasks=tasks,
        overall=overall,
        timeline=timeline,
        models=dict(sorted(origins.items())),
    )


def _row(
    task: str,
    columns: Mapping[str, Sequence[bool]],
    n_shared: int,
    compared: tuple[Sequence[str], Sequence[str]],
    margin: float,
    first: str,
    second: str,
    as_of: object = None,
) -> OriginGap:
    from gapbench.stats.equivalence import classify
    from gapbench.stats.gap import best_gap

    row = OriginGap(
        task=task,
        first=first,
        second=second,
        n_shared=n_shared,
        compared={first: tuple(compared[0]), second: tuple(compared[1])},
    )
    missing = [origin for origin, ms in zip((first, second), compared, strict=True) if not ms]
    if missing:
        when = f" released by {as_of.isoformat()}" if hasattr(as_of, "isoformat") else ""
        return replace(row, note=f"no {' or '.join(missing)} model{when or ' with results here'}")
    if n_shared == 0:
        return replace(row, note="no instance answered by every compared model")
    diff, best_a, best_b, ci90, ci95 = best_gap(columns, compared[0], compared[1])
    return replace(
        row,
        best={first: best_a, second: best_b},
        diff=diff,
        ci90=ci90,
        ci95=ci95,
        kind=classify(diff, ci90, ci95, margin),
    )


def _answered_tasks(conn: sqlite3.Connection, sel: Selection) -> list[str]:
    where, params = sel.where()
    sql = (
        "SELECT DISTINCT task FROM samples AS s WHERE s.error IS NULL AND s.draw = 0 "
        f"AND s.prompt_variant = 0 AND {where} ORDER BY task"
    )
    return [str(r[0]) for r in conn.execute(sql, params)]


def _answered_models(conn: sqlite3.Connection, sel: Selection) -> list[str]:
    where, params = sel.where()
    sql = (
        "SELECT DISTINCT model_id FROM samples AS s WHERE s.error IS NULL AND s.draw = 0 "
        f"AND s.prompt_variant = 0 AND {where}"
    )
    return [str(r[0]) for r in conn.execute(sql, params)]
