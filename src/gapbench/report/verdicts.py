"""Paired verdicts of every pair of models and the gap between origins, from SQL-read outcomes.

The same statistics as `gapbench compare` and `gapbench gap` (stats/paired.py, stats/gap.py),
fed with per-instance correctness that SQLite has already paired (report/outcomes.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gapbench.report.outcomes import (
    OutcomeTable,
    columns_from_counts,
    phrasing_counts,
    styles_by_model,
)
from gapbench.report.selection import Selection
from gapbench.stats.gap import GapReport, ModelOrigin
from gapbench.stats.paired import PairedComparison
from gapbench.stats.ranking import SharedOutcomes
from gapbench.store.dbapi import Connection


def pairwise(
    conn: Connection,
    sel: Selection,
    ranked: Sequence[str],
    margin: float,
    outcomes: OutcomeTable | None = None,
) -> list[PairedComparison]:
    """Every pair of `ranked` models (A listed before B), Holm-adjusted together, as
    stats/summary.py `pairwise` (leaderboard order) and `compare_models` (one pair) have them.
    `outcomes`: the selection's folded answers (covering `ranked`), when shared."""
    from gapbench.stats.paired import compare_paired, holm_verdicts

    if len(ranked) < 2:
        return holm_verdicts([])
    table = OutcomeTable(conn, sel, ranked) if outcomes is None else outcomes
    counts = table.pairs(ranked)
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


def _phrasing_gaps(conn: Connection, sel: Selection, a: str, b: str) -> dict[str, float]:
    gaps = {
        style: (right_a - right_b) / n
        for style, (n, right_a, right_b) in sorted(phrasing_counts(conn, sel, a, b).items())
        if n
    }
    return gaps if len(gaps) > 1 else {}


def origin_gaps(
    conn: Connection,
    sel: Selection,
    origins: Mapping[str, ModelOrigin],
    margin: float,
    first: str,
    second: str,
    outcomes: OutcomeTable | None = None,
) -> GapReport:
    """stats/gap.py `origin_gaps` on SQL-read outcomes: per task, overall, and as of each
    release date. `outcomes`: the selection's folded answers of every model, when shared."""
    from gapbench.stats.gap import gaps_from

    table = OutcomeTable(conn, sel) if outcomes is None or outcomes.models is not None else outcomes
    answered = table.answered()

    def shared_for(task: str | None, models: Sequence[str]) -> SharedOutcomes:
        return table.shared(models, task)

    return gaps_from(answered, shared_for, origins, margin, first, second)
