"""Everything the report and the web leaderboard show, as one JSON-ready dict, aggregated in SQL.

`open_results` opens a database read-only (reaping dead runs as `gapbench leaderboard` does);
`summary_view` computes the leaderboard, the paired verdicts, the gap between origins and the
provenance of every run. Samples are not part of it: they are read a page at a time
(report/queries.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gapbench.perf.attribution import Accounting
from gapbench.report.selection import Selection
from gapbench.store.dbapi import Connection

if TYPE_CHECKING:
    from gapbench.store.repository import Store

VIEW_VERSION = 1
"""Bumped when the shape of the view changes (the page checks it)."""


@dataclass(frozen=True)
class ReportOptions:
    db_path: str
    tasks: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    margin: float | None = None
    usd_per_hour: float | None = None


def check_database(db_path: str) -> None:
    """Refuse a --db that is no file before any work starts (store.connection.check_readable);
    a PostgreSQL URL is checked when it is opened."""
    from gapbench.store.connection import check_readable
    from gapbench.store.location import is_postgres_url

    if not is_postgres_url(db_path):
        check_readable(Path(db_path))


@contextmanager
def open_results(db_path: str, *, reap: bool = True) -> Iterator[Connection]:
    """A checked read-only connection to a gapbench database (SQLite, or a PostgreSQL session,
    refuses every write)."""
    from gapbench.store.repository import open_store

    check_database(db_path)
    store = open_store(db_path, readonly=True)  # NoResultsError (exit 2) when it holds none
    try:
        if reap:
            store.reap_dead_runs(time.time())
        yield store.connection
    finally:
        store.close()


def _store(conn: Connection, db_path: str) -> Store:
    """The store over the connection `open_results` gave (to read its runs)."""
    from gapbench.store.dbapi import is_postgres
    from gapbench.store.repository import Store

    if is_postgres(conn):
        from gapbench.store.location import conceal
        from gapbench.store.postgres import PgConnection, PostgresStore

        assert isinstance(conn, PgConnection)
        return PostgresStore(conn, conceal(db_path), readonly=True)
    import sqlite3

    assert isinstance(conn, sqlite3.Connection)
    return Store(conn, Path(db_path), readonly=True)


def accounting(conn: Connection, db_path: str, usd_per_hour: float | None) -> Accounting:
    """Run scales and prices, as cli/options.py `load_results` builds them."""
    from gapbench.backends.registry import billing_of
    from gapbench.perf.attribution import account_runs
    from gapbench.perf.cost import hardware_price, token_prices

    store = _store(conn, db_path)
    runs = account_runs(store.runs(), store.run_latency_totals(), billing_of)
    return Accounting(runs=runs, hardware=hardware_price(usd_per_hour), token_prices=token_prices())


def selection(conn: Connection, opts: ReportOptions) -> Selection:
    """The selection of `opts`, refusing models the database has no results for."""
    from gapbench.report.selection import check_models_known, current_selection

    if opts.models is not None:
        stored = [str(r[0]) for r in conn.execute("SELECT DISTINCT model_id FROM samples")]
        check_models_known(sorted(stored), list(opts.models), opts.db_path)
    return current_selection(opts.tasks, opts.models)


def _runs(conn: Connection, db_path: str, models: Sequence[str]) -> list[dict[str, Any]]:
    wanted = set(models)
    out = []
    for run in _store(conn, db_path).runs():
        if run.info.model_id not in wanted:
            continue
        m = run.measures
        out.append(
            {
                "id": run.id,
                "model": run.info.model_id,
                "status": run.status,
                "started": _iso(run.info.created_at),
                "finished": _iso(run.finished_at),
                "gapbench_version": run.info.gapbench_version,
                "backend": run.info.backend,
                "engine_version": run.info.engine_version,
                "model_sha256": run.info.model_sha256,
                "settings_hash": run.info.settings_hash,
                "sampling": run.info.sampling,
                "threads": run.info.threads,
                "batch_size": run.info.batch_size,
                "device": run.info.device,
                "command": run.info.command,
                "generation_seconds": m.generation_seconds if m else None,
                "peak_rss_mb": m.peak_rss_mb if m else None,
                "generations": m.generations if m else None,
            }
        )
    return out


def _iso(stamp: float | None) -> str | None:
    if not stamp:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _origins(models: Sequence[str]) -> dict[str, Any]:
    from gapbench.backends.references import stored_origin
    from gapbench.stats.gap import ModelOrigin

    return {m: ModelOrigin(*stored_origin(m)) for m in models}


def summary_view(conn: Connection, opts: ReportOptions) -> dict[str, Any]:
    """The leaderboard, verdicts, gap and provenance of the selected results, JSON-ready."""
    from gapbench.errors import UsageError
    from gapbench.report.aggregate import leaderboard
    from gapbench.report.outcomes import OutcomeTable
    from gapbench.report.queries import hidden_versions, sample_counts
    from gapbench.report.verdicts import origin_gaps, pairwise
    from gapbench.stats.equivalence import DEFAULT_MARGIN
    from gapbench.stats.gap import FIRST_ORIGIN, SECOND_ORIGIN
    from gapbench.store.location import conceal

    sel = selection(conn, opts)
    acct = accounting(conn, opts.db_path, opts.usd_per_hour)
    outcomes = OutcomeTable(conn, sel)  # read once, for the ranks, the verdicts and the gap
    rows = leaderboard(conn, sel, acct, outcomes)
    if not rows:
        what = " for these tasks" if opts.tasks is not None else ""
        raise UsageError(
            f"No results in {opts.db_path}{what} yet: run `gapbench run --model ... --db "
            f"{opts.db_path}` first."
        )
    margin = DEFAULT_MARGIN if opts.margin is None else opts.margin
    models = [row.model for row in rows if row.task == "overall"]
    pairs = pairwise(conn, sel, models, margin, outcomes)
    origins = _origins(models)
    found = {o.origin for o in origins.values()}
    gap = None
    gap_note = None
    if FIRST_ORIGIN in found and SECOND_ORIGIN in found:
        gap = origin_gaps(
            conn, sel, origins, margin, FIRST_ORIGIN, SECOND_ORIGIN, outcomes
        ).as_dict()
    else:
        gap_note = (
            f"No gap between origins: it needs a {FIRST_ORIGIN} and a {SECOND_ORIGIN} model with "
            f"results (found: {', '.join(sorted(found)) or 'none'})."
        )
    notes = []
    hidden = hidden_versions(conn, sel)
    if hidden:
        notes.append(
            f"{hidden} stored samples of older task versions are left out (rerun those tasks "
            "to measure the current version)."
        )
    if len(models) < 2:
        notes.append("One model only: add another to see paired gaps and ranks.")
    return {
        "view_version": VIEW_VERSION,
        "db": conceal(opts.db_path),  # a PostgreSQL URL, if any, without its password
        "generated_at": _iso(time.time()),
        "tasks": list(opts.tasks) if opts.tasks is not None else None,
        "margin": margin,
        "usd_per_hour": acct.usd_per_hour,
        "leaderboard": [row.as_dict() for row in rows],
        "pairs": [pair.as_dict() for pair in pairs],
        "gap": gap,
        "gap_note": gap_note,
        "models": [
            {
                "model": m,
                "origin": origins[m].origin,
                "released": origins[m].released.isoformat() if origins[m].released else None,
            }
            for m in models
        ],
        "runs": _runs(conn, opts.db_path, models),
        "sample_counts": sample_counts(conn, sel),
        "notes": notes,
    }
