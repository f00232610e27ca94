"""The results store: typed reads and writes over one SQLite file.

Durability: the file is in WAL mode with `synchronous=NORMAL`. Each `add_sample` is its own
transaction, and a committed WAL transaction is in the operating system's page cache before
COMMIT returns, so killing gapbench (Ctrl-C, SIGKILL, out of memory) loses at most the sample in
flight and never leaves half a row. Only an OS crash or power cut can lose the last few commits
(never corrupt the file: WAL frames are checksummed), and a rerun regenerates exactly those,
because `done_draws` reports them missing. The fsync that `synchronous=FULL` would add on every
commit buys nothing more for a benchmark that resumes.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from gapbench.errors import StoreError
from gapbench.store import leases
from gapbench.store.connection import open_connection, translated
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


def default_db_path() -> Path:
    """`$GAPBENCH_DB` when set and non-empty, else `./gapbench.db`. `--db` overrides both."""
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
        self._conn = conn
        self.path = path
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        """Seconds to wait for another writer's lock (connections of other threads use it too)."""

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        readonly: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> Store:
        """Open (creating and migrating unless `readonly`) the database at `path`.

        `busy_timeout` is how many seconds to wait for another writer before reporting the file
        as locked. Raises UsageError for a path that cannot be or is not a gapbench database, and
        StoreError when the database cannot be used now (locked, read-only, newer schema, no
        results yet); a refused file is never modified.
        """
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

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front (waiting up to
        the busy timeout), so a transaction never fails half-way for want of it."""
        if self.readonly:
            raise StoreError(
                f"{self.path} was opened read-only, so nothing can be written to it: "
                "open it without readonly to store results."
            )
        with translated(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with translated(self.path):
            return self._conn.execute(sql, params).fetchall()

    # Runs

    def start_run(self, info: RunInfo, holder: RunHolder | None = None) -> int:
        """Record a new run (status 'running') and return its id; `holder` is the process that
        runs it and its first lease (see leases.py)."""
        if not info.created_at:
            info = replace(info, created_at=time.time())
        columns, values = list(RUN_INFO_COLUMNS), list(run_values(info))
        if holder is not None:
            columns += ["host", "pid", "process_started", "lease_expires_at"]
            values += [holder.host, holder.pid, holder.process_started, holder.lease_expires_at]
        with self._write() as conn:
            cur = conn.execute(
                f"INSERT INTO runs ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                values,
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def record_measures(self, run_id: int, measures: RunMeasures) -> None:
        """Record what a run has measured so far, so that a run killed later keeps most of it."""
        with self._write() as conn:
            self._set_measures(conn, run_id, measures)

    def finish_run(
        self, run_id: int, status: RunStatus, measures: RunMeasures | None = None
    ) -> None:
        """Mark a run 'completed', 'interrupted' or 'failed', stamp its end time, record what
        it measured about itself, and release its claims and lease."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"final run status must be one of {FINAL_STATUSES}, not {status!r}")
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, lease_expires_at = NULL WHERE id = ?",
                (status, time.time(), run_id),
            )
            if cur.rowcount != 1:
                raise ValueError(f"no run with id {run_id} in {self.path}")
            if measures is not None:
                self._set_measures(conn, run_id, measures)
            leases.release_claims(conn, run_id)

    @staticmethod
    def _set_measures(conn: sqlite3.Connection, run_id: int, measures: RunMeasures) -> None:
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
        with self._write() as conn:
            return leases.claim(conn, run_id, keys, now, now + lease_seconds)

    def renew_lease(self, run_id: int, now: float, lease_seconds: float) -> None:
        """Extend a live run's lease and its claims."""
        with self._write() as conn:
            leases.renew(conn, run_id, now + lease_seconds)

    def dead_runs(self, now: float) -> list[int]:
        """Runs marked 'running' whose process is certainly gone (read only)."""
        with translated(self.path):
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
            return leases.reap_if_writable(self.path, now)
        with self._write() as conn:
            dead = leases.dead_runs(conn, now, leases.holder_is_gone)
            leases.mark_interrupted(conn, dead, now)
        return dead

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
        with self._write() as conn:
            leases.release_claim(conn, rec.run_id, rec.key)
            return self._upsert(conn, rec)

    def add_samples(self, recs: Sequence[SampleRecord]) -> int:
        """Store many samples in one transaction (all or none); returns how many were written."""
        with self._write() as conn:
            for rec in recs:
                leases.release_claim(conn, rec.run_id, rec.key)
            return sum(self._upsert(conn, rec) for rec in recs)

    # A conflicting row is overwritten only while it records a failure: successes are final.
    _UPSERT = (
        f"INSERT INTO samples ({', '.join(SAMPLE_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in SAMPLE_COLUMNS)}) "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
        + ", ".join(f"{col} = excluded.{col}" for col in SAMPLE_VALUE_COLUMNS)
        + " WHERE samples.error IS NOT NULL"
    )

    def _upsert(self, conn: sqlite3.Connection, rec: SampleRecord) -> bool:
        if not rec.created_at:
            rec = replace(rec, created_at=time.time())
        before = conn.total_changes
        conn.execute(self._UPSERT, sample_values(rec))
        return conn.total_changes > before

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
