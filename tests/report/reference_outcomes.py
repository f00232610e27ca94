"""A reference for report/outcomes.py `OutcomeTable`: the models' aligned per-instance columns and
their pair counts, read with one straightforward SQL query each. The report used these before
OutcomeTable folded the instances into patterns in one query; the tests keep them to check that
the patterns, their order and the pair counts did not change."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gapbench.report.outcomes import INSTANCE, PairCounts, latest_answers
from gapbench.report.selection import Selection
from gapbench.stats.ranking import SharedOutcomes
from gapbench.stats.summary import InstanceId


def shared_columns(
    conn: sqlite3.Connection, sel: Selection, models: Sequence[str]
) -> SharedOutcomes:
    """The models' correctness on the instances every one of them answered, in the order of
    stats/ranking.py `shared_outcomes` (sorted by the instance's repr)."""
    if not models:
        return SharedOutcomes((), (), {})
    index = {model: i for i, model in enumerate(models)}
    latest, params = latest_answers(sel, models)
    case = " ".join("WHEN ? THEN ?" for _ in models)
    sql = f"""
        SELECT {INSTANCE},
               GROUP_CONCAT(CASE WHEN correct THEN CASE model_id {case} END END) AS right
        FROM ({latest}) GROUP BY {INSTANCE} HAVING COUNT(*) = ?"""
    numbered = [value for model, i in index.items() for value in (model, i)]
    rows: list[tuple[InstanceId, set[int]]] = []
    for r in conn.execute(sql, [*numbered, *params, len(models)]):
        right = {int(i) for i in str(r[5]).split(",")} if r[5] is not None else set()
        rows.append(((r[0], r[1], r[2], r[3], r[4]), right))
    rows.sort(key=lambda item: repr(item[0]))
    return SharedOutcomes(
        models=tuple(models),
        instances=tuple(instance for instance, _ in rows),
        correct={m: tuple(i in right for _, right in rows) for m, i in index.items()},
    )


def pair_counts(
    conn: sqlite3.Connection, sel: Selection, models: Sequence[str]
) -> dict[tuple[str, str], PairCounts]:
    """For every pair (A, B) of `models`, A listed before B, the four counts of their paired
    outcomes: all a paired verdict depends on. SQLite folds the instances into patterns (which
    models answered, which were right), so Python sees one row per pattern."""
    if len(models) < 2:
        return {}
    latest, params = latest_answers(sel, models)
    case = " ".join("WHEN ? THEN ?" for _ in models)
    sql = f"""
        SELECT pattern, COUNT(*) AS n FROM (
            SELECT GROUP_CONCAT((CASE model_id {case} END) || ':' || correct) AS pattern
            FROM ({latest}) GROUP BY {INSTANCE})
        GROUP BY pattern"""
    numbered = [value for i, model in enumerate(models) for value in (model, i)]
    counts = {(i, j): [0, 0, 0, 0] for i in range(len(models)) for j in range(i + 1, len(models))}
    for pattern, n in conn.execute(sql, [*numbered, *params]):
        answered = dict(
            (int(i), c == "1") for i, c in (item.split(":") for item in str(pattern).split(","))
        )
        present = sorted(answered)
        for x, i in enumerate(present):
            for j in present[x + 1 :]:
                slot = 2 * (not answered[i]) + (not answered[j])
                counts[(i, j)][slot] += n
    return {(models[i], models[j]): (c[0], c[1], c[2], c[3]) for (i, j), c in counts.items()}
