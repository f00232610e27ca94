"""Per-instance correctness read in SQL for ranks, paired verdicts and the gap between origins.

As in stats/summary.py `paired_outcomes` and stats/ranking.py `shared_outcomes`: only draw 0 and
the first phrasing of an instance count, and of an instance answered under several settings the
latest answer. SQLite picks those answers and joins the models on the instances; Python receives
one small row per shared instance (never the samples themselves) and hands the aligned columns to
the same statistics as the terminal commands, in the same instance order, so that the bootstrap
draws, and so the intervals, are identical.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from gapbench.report.selection import Selection, marks
from gapbench.stats.ranking import SharedOutcomes
from gapbench.stats.summary import InstanceId

INSTANCE = "task, task_version, seed, instance_index, difficulty"


def latest_answers(sel: Selection, models: Sequence[str]) -> tuple[str, list[Any]]:
    """A subquery of (instance columns, model_id, correct, sample_id): each model's latest
    answered draw 0 of the first phrasing of every instance."""
    where, params = sel.where()
    sql = f"""
        SELECT {INSTANCE}, model_id, correct, sample_id FROM (
            SELECT {INSTANCE}, model_id, correct, s.rowid AS sample_id,
                   ROW_NUMBER() OVER (PARTITION BY model_id, {INSTANCE}
                                      ORDER BY created_at DESC, settings_hash DESC) AS rn
            FROM samples AS s
            WHERE s.error IS NULL AND s.draw = 0 AND s.prompt_variant = 0
              AND s.model_id IN ({marks(models)}) AND {where})
        WHERE rn = 1"""
    return sql, [*models, *params]


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


PairCounts = tuple[int, int, int, int]
"""(both right, only A right, only B right, both wrong) on the instances both answered."""


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


def columns_from_counts(counts: PairCounts) -> tuple[list[bool], list[bool]]:
    """Aligned outcome columns with these counts (order is immaterial to a paired verdict)."""
    both, only_a, only_b, neither = counts
    a = [True] * (both + only_a) + [False] * (only_b + neither)
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return a, b


def phrasing_counts(
    conn: sqlite3.Connection, sel: Selection, model_a: str, model_b: str
) -> dict[str, tuple[int, int, int]]:
    """Per prompt phrasing both models were asked in: (paired instances, A right, B right), on
    the instances both answered in it (draw 0, latest answer), as stats/summary.py
    `phrasing_gaps` pairs them."""
    where, params = sel.where()
    sql = f"""
        SELECT style, COUNT(*) AS n, SUM(ra) AS ra, SUM(rb) AS rb FROM (
            SELECT style, SUM(CASE WHEN model_id = ? THEN correct END) AS ra,
                   SUM(CASE WHEN model_id = ? THEN correct END) AS rb
            FROM (
                SELECT {INSTANCE}, model_id, correct,
                       COALESCE(prompt_style, 'unknown') AS style,
                       ROW_NUMBER() OVER (PARTITION BY model_id, {INSTANCE},
                                          COALESCE(prompt_style, 'unknown')
                                          ORDER BY created_at DESC, settings_hash DESC) AS rn
                FROM samples AS s
                WHERE s.error IS NULL AND s.draw = 0 AND s.model_id IN (?, ?) AND {where})
            WHERE rn = 1
            GROUP BY {INSTANCE}, style HAVING COUNT(*) = 2)
        GROUP BY style"""
    rows = conn.execute(sql, [model_a, model_b, model_a, model_b, *params]).fetchall()
    return {r["style"]: (r["n"], r["ra"], r["rb"]) for r in rows}


def styles_by_model(conn: sqlite3.Connection, sel: Selection) -> dict[str, set[str]]:
    """The prompt phrasings each model's stored samples (failed ones included) were asked in."""
    where, params = sel.where()
    sql = (
        "SELECT DISTINCT model_id, COALESCE(prompt_style, 'unknown') FROM samples AS s "
        f"WHERE {where}"
    )
    found: dict[str, set[str]] = {}
    for model, style in conn.execute(sql, params):
        found.setdefault(model, set()).add(style)
    return found
