"""Pages of samples for the sample browser, and counts, read in SQL one page at a time.

A sample leaves the database as a plain dict of the columns below (SAMPLE_FIELDS): text stays
text, to be escaped by whoever shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gapbench.report.outcomes import INSTANCE, latest_answers
from gapbench.report.selection import Selection
from gapbench.store.dbapi import Connection

Outcome = Literal["all", "right", "wrong", "noanswer", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("all", "right", "wrong", "noanswer", "failed")

SAMPLE_FIELDS: tuple[str, ...] = (
    "id",
    "model",
    "task",
    "seed",
    "index",
    "difficulty",
    "draw",
    "prompt_style",
    "prompt",
    "output",
    "reasoning",
    "extracted",
    "reference",
    "correct",
    "extraction_ok",
    "score_method",
    "error",
    "latency_s",
    "ttft_s",
    "prompt_tokens",
    "completion_tokens",
)
"""What the sample browser (and /api/samples) gets of each sample, in this order."""

# `id` is the samples table's INTEGER PRIMARY KEY, which in SQLite is the rowid itself.
_SELECT = (
    'SELECT s.id AS id, s.model_id AS model, s.task, s.seed, s.instance_index AS "index", '
    "s.difficulty, s.draw, s.prompt_style, s.prompt, s.output, s.reasoning, s.extracted, "
    "s.reference, s.correct, s.extraction_ok, s.score_method, s.error, s.latency_s, s.ttft_s, "
    "s.prompt_tokens, s.completion_tokens FROM samples AS s"
)
_ORDER = "ORDER BY s.model_id, s.task, s.seed, s.instance_index, s.difficulty, s.draw, s.id"

_OUTCOME_SQL: dict[Outcome, str] = {
    "all": "1 = 1",
    "right": "s.error IS NULL AND s.correct = 1",
    "wrong": "s.error IS NULL AND s.correct = 0",
    "noanswer": "s.error IS NULL AND s.extraction_ok = 0",
    "failed": "s.error IS NOT NULL",
}


@dataclass(frozen=True)
class SampleQuery:
    """One page of the sample browser."""

    model: str | None = None
    task: str | None = None
    outcome: Outcome = "all"
    offset: int = 0
    limit: int = 50


def _sample_dict(row: Any, max_chars: int | None = None) -> dict[str, Any]:
    out = {name: row[name] for name in SAMPLE_FIELDS}
    out["correct"] = bool(out["correct"])
    out["extraction_ok"] = bool(out["extraction_ok"])
    if max_chars is not None:
        for name in ("prompt", "output", "reasoning"):
            text = out[name]
            if isinstance(text, str) and len(text) > max_chars:
                out[name] = f"{text[:max_chars]}\n[... {len(text) - max_chars:,} more characters]"
    return out


def _filters(sel: Selection, q: SampleQuery) -> tuple[str, list[Any]]:
    where, params = sel.where()
    parts = [where, _OUTCOME_SQL[q.outcome]]
    if q.model is not None:
        parts.append("s.model_id = ?")
        params.append(q.model)
    if q.task is not None:
        parts.append("s.task = ?")
        params.append(q.task)
    return " AND ".join(parts), params


def samples_page(
    conn: Connection, sel: Selection, q: SampleQuery, max_chars: int | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """(how many samples match, the page of them at q.offset), in instance order."""
    where, params = _filters(sel, q)
    total = int(
        conn.execute(f"SELECT COUNT(*) FROM samples AS s WHERE {where}", params).fetchone()[0]
    )
    rows = conn.execute(
        f"{_SELECT} WHERE {where} {_ORDER} LIMIT ? OFFSET ?", [*params, q.limit, q.offset]
    ).fetchall()
    return total, [_sample_dict(row, max_chars) for row in rows]


def samples_by_id(
    conn: Connection, ids: Sequence[int], max_chars: int | None = None
) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        marks = ", ".join("?" for _ in chunk)
        for row in conn.execute(f"{_SELECT} WHERE s.id IN ({marks})", chunk):
            found[int(row["id"])] = _sample_dict(row, max_chars)
    return found


def disagreements_page(
    conn: Connection,
    sel: Selection,
    model_a: str,
    model_b: str,
    task: str | None,
    offset: int,
    limit: int,
    max_chars: int | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """The instances where exactly one of two models was right (their paired outcomes: draw 0,
    first phrasing, latest answer): (how many, the page at `offset` as {"a": sample, "b":
    sample})."""
    if task is not None:
        from dataclasses import replace

        sel = replace(sel, tasks=(task,))
    latest, params = latest_answers(sel, [model_a, model_b])
    join = f"""
        SELECT MAX(CASE WHEN model_id = ? THEN sample_id END) AS ia,
               MAX(CASE WHEN model_id = ? THEN sample_id END) AS ib
        FROM ({latest}) AS latest GROUP BY {INSTANCE}
        HAVING COUNT(*) = 2 AND MIN(correct) != MAX(correct)"""
    args = [model_a, model_b, *params]
    total = int(conn.execute(f"SELECT COUNT(*) FROM ({join}) AS pairs", args).fetchone()[0])
    page = conn.execute(
        f"{join} ORDER BY {INSTANCE} LIMIT ? OFFSET ?", [*args, limit, offset]
    ).fetchall()
    ids = [int(i) for r in page for i in (r["ia"], r["ib"])]
    found = samples_by_id(conn, ids, max_chars)
    return total, [{"a": found[int(r["ia"])], "b": found[int(r["ib"])]} for r in page]


def first_disagreements(
    conn: Connection,
    sel: Selection,
    model_a: str,
    model_b: str,
    limit: int,
    max_chars: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """task -> the first `limit` pairs of `disagreements_page` on that task (offset 0), for
    every task at once: one query instead of two per task."""
    latest, params = latest_answers(sel, [model_a, model_b])
    sql = f"""
        SELECT task, ia, ib FROM (
            SELECT task, ia, ib,
                   ROW_NUMBER() OVER (PARTITION BY task
                                      ORDER BY task_version, seed, instance_index, difficulty)
                       AS k
            FROM (
                SELECT {INSTANCE},
                       MAX(CASE WHEN model_id = ? THEN sample_id END) AS ia,
                       MAX(CASE WHEN model_id = ? THEN sample_id END) AS ib
                FROM ({latest}) AS latest GROUP BY {INSTANCE}
                HAVING COUNT(*) = 2 AND MIN(correct) != MAX(correct)) AS pairs) AS numbered
        WHERE k <= ? ORDER BY task, k"""
    rows = conn.execute(sql, [model_a, model_b, *params, limit]).fetchall()
    found = samples_by_id(conn, [int(i) for r in rows for i in (r["ia"], r["ib"])], max_chars)
    pages: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        pages.setdefault(str(r["task"]), []).append(
            {"a": found[int(r["ia"])], "b": found[int(r["ib"])]}
        )
    return pages


def sample_counts(conn: Connection, sel: Selection) -> dict[str, int]:
    """Stored samples per 'model\\ttask' (failed ones included)."""
    where, params = sel.where()
    sql = f"SELECT model_id, task, COUNT(*) FROM samples AS s WHERE {where} GROUP BY 1, 2"
    return {f"{m}\t{t}": int(n) for m, t, n in conn.execute(sql, params)}


def hidden_versions(conn: Connection, sel: Selection) -> int:
    """Stored samples of older task versions that the selection leaves out."""
    from dataclasses import replace

    everything, params = replace(sel, versions={}).where()
    current, current_params = sel.where()
    sql = (
        f"SELECT (SELECT COUNT(*) FROM samples AS s WHERE {everything}) - "
        f"(SELECT COUNT(*) FROM samples AS s WHERE {current})"
    )
    return int(conn.execute(sql, [*params, *current_params]).fetchone()[0])


def fingerprint(conn: Connection) -> tuple[Any, ...]:
    """Changes whenever a sample or a run is stored or changes (what the server polls)."""
    samples = conn.execute("SELECT COUNT(*), MAX(id), MAX(created_at) FROM samples").fetchone()
    runs = conn.execute(
        "SELECT COUNT(*), MAX(id), SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), "
        "MAX(COALESCE(finished_at, 0)), SUM(COALESCE(generations, 0)) FROM runs"
    ).fetchone()
    return (*tuple(samples), *tuple(runs))
