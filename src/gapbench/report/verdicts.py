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
from gapbench.stats.gap import GapReport, ModelOrigin
from gapbench.stats.paired import PairedComparison
from gapbench.stats.ranking import SharedOutcomes


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
    from gapbench.stats.gap import gaps_from

    answered = {
        task: set(_answered_models(conn, replace(sel, tasks=(task,))))
        for task in _answered_tasks(conn, sel)
    }

    def shared_for(task: str | None, models: Sequence[str]) -> SharedOutcomes:
        chosen = sel if task is None else replace(sel, tasks=(task,))
        return shared_columns(conn, chosen, models)

    return gaps_from(answered, shared_for, origins, margin, first, second)


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
