"""The results store: typed reads and writes over one SQLite file (this module) or one PostgreSQL
database (store/postgres.py, the same class with the few statements that differ overridden).

Durability: the file is in WAL mode with `synchronous=NORMAL`. Each `add_sample` or `add_samples` is
one transaction (the runner's writer stores each sample as it comes, several in one when they come
faster than a write: scheduler.py `SampleWriter`), and a committed WAL transaction is in the
operating system's page cache before COMMIT returns, so killing gapbench (Ctrl-C, SIGKILL, out of
memory) loses at most the samples in flight and never leaves half a row. Only an OS crash or power
cut can lose the last few commits (never corrupt the file: WAL frames are checksummed), and a rerun
regenerates exactly those, because `done_draws` reports them missing. The fsync that
`synchronous=FULL` would add on every commit buys nothing more for a benchmark that resumes.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

from gapbench.errors import StoreError
from gapbench.store import leases
from gapbench.store.connection import open_connection, translated
from gapbench.store.dbapi import Connection
from gapbench.store.location import is_postgres_url, scrub
from gapbench.store.records import (
    FINAL_STATUSES,
    RunHolder,
    RunInfo,
    RunMeasures,
    RunRow,
    RunStatus,
    SampleKey,
    SampleRecord,
)
from gapbench.store.schema import (
    KEY_COLUMNS,
    RUN_INFO_COLUMNS,
    RUN_ROW_COLUMNS,
    SAMPLE_COLUMNS,
    SAMPLE_VALUE_COLUMNS,
    run_from_row,
    run_values,
    sample_from_row,
    sample_values,
)

DEFAULT_DB_NAME = "gapbench.db"
DB_ENV_VAR = "GAPBENCH_DB"
DEFAULT_BUSY_TIMEOUT_S = 5.0

T = TypeVar("T")


def default_db_path() -> Path:
    """`$GAPBENCH_DB` when set and non-empty, else `./gapbench.db`. `--db` overrides both. (A
    PostgreSQL URL is not a path: `Store.open` takes either as a string.)"""
    from_env = os.environ.get(DB_ENV_VAR, "").strip()
    return Path(from_env) if from_env else Path(DEFAULT_DB_NAME)


class Store:
    """One open results database. Use `Store.open(...)`, ideally as a context manager."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        readonly: bool,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> None:
        self._conn: Connection = conn
        self._path = path
        self.location = str(path)
        """The database as gapbench shows it and as `Store.open` takes it again: the file's path,
        or a PostgreSQL URL without its password (store/location.py)."""
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        """Seconds to wait for another writer's lock (connections of other threads use it too)."""

    @property
    def path(self) -> Path:
        """The SQLite file (a PostgreSQL store has none: use `location`)."""
        return self._path

    @property
    def connection(self) -> Connection:
        """The open connection, for the report's own queries (read only)."""
        return self._conn

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        readonly: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> Store:
        """Open (creating and migrating unless `readonly`) the database at `path`: a SQLite file,
        or a `postgresql://user@host:port/name` URL (the `postgres` extra).

        `busy_timeout` is how many seconds to wait for another writer before reporting the
        database as locked. Raises UsageError for a path that cannot be or is not a gapbench
        database, and StoreError when the database cannot be used now (locked, read-only, newer
        schema, no results yet, unreachable); a refused database is never modified.
        """
        if isinstance(path, str) and is_postgres_url(path):
            from gapbench.store.postgres import PostgresStore

            return PostgresStore.connect(path, readonly=readonly, busy_timeout=busy_timeout)
        db = Path(path)
        conn = open_connection(db, readonly=readonly, busy_timeout=busy_timeout)
        return cls(conn, db, readonly=readonly, busy_timeout=busy_timeout)

    def close(self) -> None:
        """Close the connection; committed data is already durable (see module docstring)."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # What differs between the databases (store/postgres.py overrides these)

    def _translated(self) -> AbstractContextManager[None]:
        """Turns the database's own failures into errors that say what to do."""
        return translated(self._path)

    def _transaction(self, body: Callable[[Connection], T]) -> T:
        """Run `body` in one write transaction. BEGIN IMMEDIATE takes the write lock up front
        (waiting up to the busy timeout), so a transaction never fails half-way for want of it."""
        self._check_writable()
        conn = cast(sqlite3.Connection, self._conn)
        with self._translated():
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    def _check_writable(self) -> None:
        if self.readonly:
            raise StoreError(
                f"{self.location} was opened read-only, so nothing can be written to it: "
                "open it without readonly to store results."
            )

    def _insert_run(self, conn: Connection, sql: str, values: Sequence[Any]) -> int:
        """Run an INSERT INTO runs and return the new run's id."""
        cur = cast(sqlite3.Connection, conn).execute(sql, values)
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _reap_through_another_connection(self, now: float) -> list[int]:
        return leases.reap_if_writable(self._path, now)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._translated():
            return self._conn.execute(sql, params).fetchall()

    # Runs

    def start_run(self, info: RunInfo, holder: RunHolder | None = None) -> int:
        """Record a new run (status 'running') and return its id; `holder` is the process that
        runs it and its first lease (see leases.py)."""
        if not info.created_at:
            info = replace(info, created_at=time.time())
        # The command line may name the database by a URL with a password: never store that.
        info = replace(info, command=scrub(info.command))
        columns, values = list(RUN_INFO_COLUMNS), list(run_values(info))
        if holder is not None:
            columns += ["host", "pid", "process_started", "lease_expires_at"]
            values += [holder.host, holder.pid, holder.process_started, holder.lease_expires_at]
        sql = f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        return self._transaction(lambda conn: self._insert_run(conn, sql, values))

    def record_measures(self, run_id: int, measures: RunMeasures) -> None:
        """Record what a run has measured so far, so that a run killed later keeps most of it."""
        self._transaction(lambda conn: self._set_measures(conn, run_id, measures))

    def finish_run(
        self, run_id: int, status: RunStatus, measures: RunMeasures | None = None
    ) -> None:
        """Mark a run 'completed', 'interrupted' or 'failed', stamp its end time, record what
        it measured about itself, and release its claims and lease."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"final run status must be one of {FINAL_STATUSES}, not {status!r}")

        def finish(conn: Connection) -> None:
            cur = conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, lease_expires_at = NULL WHERE id = ?",
                (status, time.time(), run_id),
            )
            if cur.rowcount != 1:
                raise ValueError(f"no run with id {run_id} in {self.location}")
            if measures is not None:
                self._set_measures(conn, run_id, measures)
            leases.release_claims(conn, run_id)

        self._transaction(finish)

    @staticmethod
    def _set_measures(conn: Connection, run_id: int, measures: RunMeasures) -> None:
        conn.execute(
            "UPDATE runs SET generation_seconds = ?, peak_rss_mb = ?, latency_seconds = ?, "
            "generations = ? WHERE id = ?",
            (
                measures.generation_seconds,
                measures.peak_rss_mb,
                measures.latency_seconds,
                measures.generations,
                run_id,
            ),
        )

    # Claims and leases (see leases.py)

    def claim(
        self, run_id: int, keys: Sequence[SampleKey], now: float, lease_seconds: float
    ) -> leases.ClaimOutcome:
        """Claim samples for a run before generating them, in one transaction: those stored
        successfully meanwhile come back as done, those another run holds as held."""
        return self._transaction(
            lambda conn: leases.claim(
                cast(sqlite3.Connection, conn), run_id, keys, now, now + lease_seconds
            )
        )

    def renew_lease(self, run_id: int, now: float, lease_seconds: float) -> None:
        """Extend a live run's lease and its claims."""
        self._transaction(lambda conn: leases.renew(conn, run_id, now + lease_seconds))

    def dead_runs(self, now: float) -> list[int]:
        """Runs marked 'running' whose process is certainly gone (read only)."""
        with self._translated():
            return leases.dead_runs(self._conn, now, leases.holder_is_gone)

    def reap_dead_runs(self, now: float) -> list[int]:
        """Mark the runs whose process is certainly gone 'interrupted' and free their claims, in
        one transaction; returns their ids.

        On a store opened read-only this is the one write a report makes, and only when it can:
        through a short-lived second connection that never creates, migrates or waits long for
        the file, and that gives up silently where the file cannot be written (a read-only
        mount, another program's lock); the next `gapbench run` does it then.
        """
        if not self.dead_runs(now):
            return []
        if self.readonly:
            return self._reap_through_another_connection(now)

        def reap(conn: Connection) -> list[int]:
            dead = leases.dead_runs(conn, now, leases.holder_is_gone)
            leases.mark_interrupted(conn, dead, now)
            return dead

        return self._transaction(reap)

    def runs(self, model_id: str | None = None) -> list[RunRow]:
        """Stored runs, oldest first, optionally only those of one model."""
        sql = f"SELECT {', '.join(RUN_ROW_COLUMNS + RUN_INFO_COLUMNS)} FROM runs"
        params: list[Any] = []
        if model_id is not None:
            sql += " WHERE model_id = ?"
            params.append(model_id)
        return [run_from_row(row) for row in self._read(sql + " ORDER BY id", params)]

    # Samples

    def done_draws(
        self,
        model_id: str,
        task: str,
        task_version: str,
        seed: int,
        difficulty: str,
        settings_hash: str,
    ) -> set[tuple[int, int]]:
        """(instance index, draw) pairs already answered successfully under exactly these
        settings. Failed samples are not included, so a rerun retries them."""
        rows = self._read(
            "SELECT instance_index, draw FROM samples WHERE model_id = ? AND task = ? "
            "AND task_version = ? AND seed = ? AND difficulty = ? AND settings_hash = ? "
            "AND error IS NULL",
            (model_id, task, task_version, seed, difficulty, settings_hash),
        )
        return {(int(row[0]), int(row[1])) for row in rows}

    def add_sample(self, rec: SampleRecord) -> bool:
        """Store one sample in its own transaction, releasing its run's claim on it in the same
        one. Returns False (and stores nothing) when a successful sample with the same key is
        already stored; a stored failure is replaced."""

        def store(conn: Connection) -> bool:
            leases.release_claim(conn, rec.run_id, rec.key)
            return self._upsert(conn, rec)

        return self._transaction(store)

    def add_samples(self, recs: Sequence[SampleRecord]) -> int:
        """Store many samples in one transaction (all or none); returns how many were written."""

        def store(conn: Connection) -> int:
            for rec in recs:
                leases.release_claim(conn, rec.run_id, rec.key)
            return sum(self._upsert(conn, rec) for rec in recs)

        return self._transaction(store)

    # A conflicting row is overwritten only while it records a failure: successes are final.
    _UPSERT = (
        f"INSERT INTO samples ({', '.join(SAMPLE_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in SAMPLE_COLUMNS)}) "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
        + ", ".join(f"{col} = excluded.{col}" for col in SAMPLE_VALUE_COLUMNS)
        + " WHERE samples.error IS NOT NULL"
    )

    def _upsert(self, conn: Connection, rec: SampleRecord) -> bool:
        if not rec.created_at:
            rec = replace(rec, created_at=time.time())
        # One statement, so its row count says whether it wrote (inserted or replaced a failure).
        return conn.execute(self._UPSERT, sample_values(rec)).rowcount > 0

    def samples(
        self,
        *,
        model_ids: Sequence[str] | None = None,
        tasks: Sequence[str] | None = None,
        include_failed: bool = False,
    ) -> list[SampleRecord]:
        """Stored samples, optionally only of some models and tasks, in key order. Failed
        samples are left out unless `include_failed`."""
        where: list[str] = []
        params: list[Any] = []
        for column, wanted in (("model_id", model_ids), ("task", tasks)):
            if wanted is not None:
                where.append(f"{column} IN ({', '.join('?' for _ in wanted)})")
                params.extend(wanted)
        if not include_failed:
            where.append("error IS NULL")
        sql = f"SELECT {', '.join(SAMPLE_COLUMNS)} FROM samples"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {', '.join(KEY_COLUMNS)}"
        return [sample_from_row(row) for row in self._read(sql, params)]

    def run_latency_totals(self) -> dict[int, float]:
        """Sum of sample latencies per run id (failed samples included: they took time too)."""
        rows = self._read("SELECT run_id, SUM(latency_s) FROM samples GROUP BY run_id")
        return {int(row[0]): float(row[1] or 0.0) for row in rows}

    def models(self) -> list[str]:
        """Model ids that have at least one stored sample, sorted."""
        return [str(r[0]) for r in self._read("SELECT DISTINCT model_id FROM samples ORDER BY 1")]

    def tasks(self) -> list[str]:
        """Task names that have at least one stored sample, sorted."""
        return [str(r[0]) for r in self._read("SELECT DISTINCT task FROM samples ORDER BY 1")]


def open_store(db: str, *, readonly: bool = False) -> Store:
    """Open the results database `db` (a SQLite path or a PostgreSQL URL), waiting for another
    writer's lock at most GAPBENCH_BUSY_TIMEOUT seconds (default 5)."""
    import os

    from gapbench.errors import UsageError

    raw = os.environ.get("GAPBENCH_BUSY_TIMEOUT", "5")
    try:
        busy_timeout = float(raw)
    except ValueError:
        raise UsageError(
            f"GAPBENCH_BUSY_TIMEOUT must be a number of seconds, not '{raw}'."
        ) from None
    return Store.open(db, readonly=readonly, busy_timeout=busy_timeout)
