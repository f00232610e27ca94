"""Leaderboard rows computed in SQL: the same `ScoreRow`s as stats/summary.py `summarize`, without
loading a single sample record into Python.

SQLite sums the samples per (model, task, run), counts each instance's draws and right answers,
and hands over the timing values (three numbers per answered sample, one scan) whose order
statistics give the latency percentiles; Python only combines those few rows (a run's time
scale and price apply to its sums) and calls the same interval, pass@k, Pareto and rank functions
as the terminal leaderboard. Tests check the rows against `summarize`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gapbench.perf.attribution import Accounting
from gapbench.perf.cost import pareto_frontier, time_cost, token_cost
from gapbench.report.outcomes import OutcomeTable
from gapbench.report.selection import Selection
from gapbench.stats.intervals import clustered_pass_interval, wilson_interval
from gapbench.stats.passk import mean_pass_at_k
from gapbench.stats.summary import OVERALL, ScoreRow
from gapbench.store.dbapi import Connection

GroupKey = tuple[str, str]
"""(model, task), task being OVERALL for a model's pooled row."""

INSTANCE = "task, task_version, seed, instance_index, difficulty"


@dataclass
class _Sums:
    stored: int = 0
    answered: int = 0
    correct: int = 0
    no_answer: int = 0
    tokens: int = 0
    wall: float = 0.0
    cost: float | None = 0.0
    reasoning: int | None = None
    retries: int = 0
    unsafe: int = 0
    instances: list[tuple[int, int, int]] = field(default_factory=list)
    """(draws, right draws, how many instances had exactly those)."""
    any_later_draw: bool = False
    reasons: dict[str, int] = field(default_factory=dict)
    phrasings: dict[str, float] = field(default_factory=dict)
    latency: dict[int, float | None] = field(default_factory=dict)
    ttft: float | None = None
    tpot: float | None = None


def _rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _keys(model: str, task: str) -> tuple[GroupKey, GroupKey]:
    return (model, task), (model, OVERALL)


def _add_run_sums(
    conn: Connection, sel: Selection, acct: Accounting, sums: dict[GroupKey, _Sums]
) -> None:
    where, params = sel.where()
    ok = "s.error IS NULL"
    sql = f"""
        SELECT model_id, task, run_id, COUNT(*) AS stored,
               SUM(CASE WHEN {ok} THEN 1 ELSE 0 END) AS answered,
               SUM(CASE WHEN {ok} THEN correct ELSE 0 END) AS correct,
               SUM(CASE WHEN {ok} AND extraction_ok = 0 THEN 1 ELSE 0 END) AS no_answer,
               SUM(CASE WHEN {ok} THEN completion_tokens ELSE 0 END) AS ctok,
               SUM(CASE WHEN {ok} THEN prompt_tokens ELSE 0 END) AS ptok,
               SUM(CASE WHEN {ok} THEN latency_s ELSE 0 END) AS latency,
               SUM(CASE WHEN {ok} THEN reasoning_tokens END) AS reasoning,
               SUM(retries) AS retries
        FROM samples AS s WHERE {where} GROUP BY model_id, task, run_id"""
    for r in _rows(conn, sql, params):
        run = acct.runs.get(r["run_id"])
        wall = float(r["latency"] or 0.0) * (run.scale if run else 1.0)
        cost: float | None
        if r["answered"] == 0:
            cost = 0.0
        elif run is not None and run.billing == "tokens":
            price = acct.token_prices.get(r["model_id"])
            cost = None if price is None else token_cost(r["ptok"], r["ctok"], price)
        else:
            cost = None if acct.hardware is None else time_cost(wall, acct.hardware)
        for key in _keys(r["model_id"], r["task"]):
            s = sums.setdefault(key, _Sums())
            s.stored += r["stored"]
            s.answered += r["answered"]
            s.correct += r["correct"]
            s.no_answer += r["no_answer"]
            s.tokens += r["ctok"]
            s.wall += wall
            s.cost = None if s.cost is None or cost is None else s.cost + cost
            if r["reasoning"] is not None:
                s.reasoning = (s.reasoning or 0) + r["reasoning"]
            s.retries += r["retries"]
            if run is not None and run.unsafe_sandbox:
                s.unsafe += r["answered"]


def _add_instances(conn: Connection, sel: Selection, sums: dict[GroupKey, _Sums]) -> None:
    where, params = sel.where()
    sql = f"""
        SELECT model_id, task, k, c, MAX(later) AS later, COUNT(*) AS m FROM (
            SELECT model_id, task, COUNT(*) AS k, SUM(correct) AS c,
                   MAX(CASE WHEN draw > 0 THEN 1 ELSE 0 END) AS later
            FROM samples AS s WHERE s.error IS NULL AND {where}
            GROUP BY model_id, {INSTANCE}) AS instances
        GROUP BY model_id, task, k, c"""
    for r in _rows(conn, sql, params):
        for key in _keys(r["model_id"], r["task"]):
            s = sums[key]
            s.instances.append((r["k"], r["c"], r["m"]))
            s.any_later_draw = s.any_later_draw or bool(r["later"])


def _add_reasons(conn: Connection, sel: Selection, sums: dict[GroupKey, _Sums]) -> None:
    where, params = sel.where()
    sql = f"""
        SELECT model_id, task, COALESCE(score_method, 'unknown') AS reason, COUNT(*) AS n
        FROM samples AS s WHERE s.error IS NULL AND s.extraction_ok = 0 AND {where}
        GROUP BY model_id, task, reason"""
    for r in _rows(conn, sql, params):
        for key in _keys(r["model_id"], r["task"]):
            reasons = sums[key].reasons
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + r["n"]


def _add_phrasings(conn: Connection, sel: Selection, sums: dict[GroupKey, _Sums]) -> None:
    """Accuracy per prompt phrasing: the mean over instances of each one's right share."""
    where, params = sel.where()
    # Only a model answered in several phrasings gets them (a cheap scan finds which): the
    # groupings below sort every answer, twice.
    several = [
        str(r[0])
        for r in conn.execute(
            f"SELECT model_id FROM samples AS s WHERE s.error IS NULL AND {where} "
            "GROUP BY model_id HAVING COUNT(DISTINCT COALESCE(prompt_style, 'unknown')) > 1",
            params,
        )
    ]
    if not several:
        return
    where = f"{where} AND s.model_id IN ({', '.join('?' for _ in several)})"
    params = [*params, *several]
    for partition in ("model_id, task", "model_id"):
        sql = f"""
            SELECT model_id, {"task" if "task" in partition else "NULL"} AS task, style,
                   AVG(share) AS accuracy FROM (
                SELECT model_id, task, COALESCE(prompt_style, 'unknown') AS style,
                       AVG(correct) AS share
                FROM samples AS s WHERE s.error IS NULL AND {where}
                GROUP BY model_id, {INSTANCE}, style) AS shares
            GROUP BY {partition}, style"""
        found: dict[GroupKey, dict[str, float]] = defaultdict(dict)
        for r in _rows(conn, sql, params):
            found[(r["model_id"], r["task"] or OVERALL)][r["style"]] = float(r["accuracy"])
        for key, styles in found.items():
            if len(styles) > 1:
                sums[key].phrasings = dict(sorted(styles.items()))


def _timings(
    conn: Connection, sel: Selection
) -> dict[GroupKey, tuple[list[float], list[float], list[float]]]:
    """Per (model, task) and per model: the latencies, times to first token and times per
    output token of the answered samples, each sorted: one scan, the values computed in SQL as
    before, the order statistics picked in Python (a window function per value and grouping
    sorted the table six times)."""
    where, params = sel.where()
    sql = f"""
        SELECT model_id, task, latency_s,
               CASE WHEN ttft_s IS NOT NULL THEN ttft_s END,
               CASE WHEN ttft_s IS NOT NULL AND completion_tokens > 1
                    THEN (CASE WHEN latency_s > ttft_s THEN latency_s - ttft_s ELSE 0.0 END)
                         / (completion_tokens - 1) END
        FROM samples AS s WHERE s.error IS NULL AND {where}"""
    by_task: dict[tuple[str, str], tuple[list[float], list[float], list[float]]] = {}
    for model, task, latency, ttft, tpot in conn.execute(sql, params):
        values = by_task.get((model, task))
        if values is None:
            values = by_task[(model, task)] = ([], [], [])
        values[0].append(latency)
        if ttft is not None:
            values[1].append(ttft)
        if tpot is not None:
            values[2].append(tpot)
    found: dict[GroupKey, tuple[list[float], list[float], list[float]]] = {}
    for (model, task), values in by_task.items():
        pooled = found.setdefault((model, OVERALL), ([], [], []))
        for column, into in zip(values, pooled, strict=True):
            into.extend(column)
        found[(model, task)] = values
    for values in found.values():
        for column in values:
            column.sort()
    return found


def _percentiles(ordered: Sequence[float], qs: Sequence[int]) -> dict[int, float | None]:
    """numpy-style percentiles (linear interpolation) of sorted values; {} for none."""
    if not ordered:
        return {}
    return {q: float(_interpolate(ordered, len(ordered), q)) for q in qs}


def _interpolate(ordered: Sequence[float], n: int, q: int) -> float:
    """perf/timing.py `percentile` from the order statistics around rank (n - 1) * q / 100."""
    rank = (n - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, n - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _add_timing(conn: Connection, sel: Selection, sums: dict[GroupKey, _Sums]) -> None:
    timings = _timings(conn, sel)
    for key, s in sums.items():
        latency, ttft, tpot = timings.get(key, ([], [], []))
        s.latency = _percentiles(latency, (50, 90, 99))
        s.ttft = _percentiles(ttft, (50,)).get(50)
        s.tpot = _percentiles(tpot, (50,)).get(50)


def _accuracy(s: _Sums) -> tuple[float, float, float, int, int, dict[int, float]]:
    """(accuracy, ci low, ci high, instances, draws per instance, pass@k), as summary.py has it."""
    instances = sum(m for _, _, m in s.instances)
    draws = max((k for k, _, _ in s.instances), default=0)
    if draws <= 1:
        low, high = wilson_interval(s.correct, s.answered)
        accuracy = s.correct / s.answered if s.answered else 0.0
        return accuracy, low, high, instances, draws, {}
    counts = [(k, c) for k, c, m in s.instances for _ in range(m)]
    low, high = clustered_pass_interval(counts)
    accuracy = math.fsum(c / k for k, c in counts) / len(counts)
    pass_k = mean_pass_at_k(counts) if s.any_later_draw else {}
    return accuracy, low, high, instances, draws, pass_k


def _score_row(key: GroupKey, s: _Sums, acct: Accounting) -> ScoreRow:
    model, task = key
    accuracy, low, high, instances, draws, pass_k = _accuracy(s)
    n = s.answered
    cost = s.cost if n else None
    return ScoreRow(
        model=model,
        task=task,
        n=n,
        planned=s.stored,
        instances=instances,
        draws_per_instance=draws,
        correct=s.correct,
        accuracy=accuracy,
        ci_low=low,
        ci_high=high,
        extraction_failures=s.no_answer,
        extraction_failure_rate=s.no_answer / n if n else 0.0,
        failed=s.stored - n,
        completion_tokens=s.tokens,
        tokens_per_s=s.tokens / s.wall if s.wall > 0 else None,
        p50_latency_s=s.latency.get(50),
        p90_latency_s=s.latency.get(90),
        p99_latency_s=s.latency.get(99),
        p50_ttft_s=s.ttft,
        p50_tpot_s=s.tpot,
        cost_usd=cost,
        usd_per_correct=cost / s.correct if cost is not None and s.correct else None,
        usd_per_mtok=cost / s.tokens * 1e6 if cost is not None and s.tokens else None,
        peak_rss_mb=acct.peak_rss_mb(model) if task == OVERALL else None,
        reasoning_tokens=s.reasoning,
        retries=s.retries,
        pass_at_k=pass_k,
        no_answer_reasons=dict(s.reasons),
        phrasings=s.phrasings,
        unsafe_sandbox=s.unsafe,
    )


def leaderboard(
    conn: Connection,
    sel: Selection,
    acct: Accounting,
    outcomes: OutcomeTable | None = None,
) -> list[ScoreRow]:
    """The leaderboard `gapbench leaderboard` prints, in its order: per model an OVERALL row
    (Pareto flag, rank interval) then its tasks alphabetically, models best first. `outcomes`:
    the selection's folded answers, when the caller shares them with other views."""
    sums: dict[GroupKey, _Sums] = {}
    _add_run_sums(conn, sel, acct, sums)
    if not sums:
        return []
    _add_instances(conn, sel, sums)
    _add_reasons(conn, sel, sums)
    _add_phrasings(conn, sel, sums)
    _add_timing(conn, sel, sums)
    blocks: dict[str, list[ScoreRow]] = defaultdict(list)
    for key in sorted(sums, key=lambda k: (k[0], k[1] != OVERALL, k[1])):
        blocks[key[0]].append(_score_row(key, sums[key], acct))
    ordered = sorted(blocks.values(), key=lambda b: (-b[0].accuracy, b[0].model))
    points = [
        (b[0].model, b[0].accuracy, b[0].cost_usd / b[0].n)
        for b in ordered
        if b[0].cost_usd is not None and b[0].n > 0
    ]
    frontier = pareto_frontier(points)
    ordered = [[replace(b[0], pareto=b[0].model in frontier), *b[1:]] for b in ordered]
    table = OutcomeTable(conn, sel) if outcomes is None else outcomes
    return [row for block in _ranked(table, ordered) for row in block]


def _ranked(outcomes: OutcomeTable, blocks: list[list[ScoreRow]]) -> list[list[ScoreRow]]:
    from gapbench.stats.summary import ranked_blocks

    return ranked_blocks(blocks, outcomes.shared)


def overall_rows(rows: Iterable[ScoreRow]) -> list[ScoreRow]:
    return [row for row in rows if row.task == OVERALL]
