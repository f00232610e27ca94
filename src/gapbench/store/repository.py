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
from urllib.parse import quote

from gapbench.errors import GapbenchError, StoreError, UsageError
from gapbench.store.migrations import check_not_newer, migrate, read_state
from gapbench.store.records import (
    FINAL_STATUSES,
    RunInfo,
    RunMeasures,
    RunRow,
    RunStatus,
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


def translate_error(path: Path, exc: sqlite3.Error) -> GapbenchError | None:
    """The user-facing error for a SQLite failure on `path`, or None when it is a bug of ours.

    Uses the extended result code's name (Python 3.11+), which is stable, unlike the message text.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(
            f"{path} is locked: another gapbench is writing to it; "
            "wait for it to finish or pass another --db."
        )
    if name.startswith("SQLITE_READONLY"):
        return StoreError(
            f"{path} is read-only: gapbench must write results there; "
            "make it and its folder writable or pass another --db."
        )
    if name == "SQLITE_NOTADB":
        return UsageError(
            f"{path} is not a gapbench database (file is not a database): pass another --db."
        )
    if name.startswith("SQLITE_CORRUPT"):
        return StoreError(
            f"{path} is corrupt ({exc}): restore it from a backup or pass another --db."
        )
    if name == "SQLITE_FULL":
        return StoreError(f"{path} cannot grow (disk full): free some space or pass another --db.")
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        return StoreError(
            f"{path} cannot be opened or written ({exc}): check the disk and its permissions "
            "or pass another --db."
        )
    return None


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        mapped = translate_error(path, exc)
        if mapped is None:
            raise
        raise mapped from exc


def _check_writable_location(db: Path) -> None:
    """Refuse, before SQLite creates anything, a path that cannot hold a database we write."""
    parent = db.parent
    if not parent.exists():
        raise UsageError(
            f"The folder of {db} ({parent}) does not exist: create it or pass another --db."
        )
    if not parent.is_dir():
        raise UsageError(f"{parent} is not a folder, so {db} cannot be created: pass another --db.")
    if db.is_dir():
        raise UsageError(f"{db} is a folder, not a database file: pass a file path to --db.")
    # WAL keeps two side files (-wal, -shm) next to the database, so the folder must be writable
    # even when the database file itself already exists.
    if db.exists() and not os.access(db, os.W_OK):
        raise StoreError(f"{db} is read-only: make it writable or pass another --db.")
    if not os.access(parent, os.W_OK):
        raise StoreError(
            f"{parent} is read-only: gapbench keeps {db.name} and its journal files there; "
            "make the folder writable or pass another --db."
        )


def _connect(
    db: Path, *, readonly: bool, busy_timeout: float, immutable: bool = False
) -> sqlite3.Connection:
    if readonly:
        if db.is_dir():
            raise UsageError(f"{db} is a folder, not a database file: pass a file path to --db.")
        if not db.exists():
            raise StoreError(f"No results in {db} yet: run `gapbench run ...` first.")
        # mode=ro: SQLite itself refuses every write, so reports can never alter results.
        target, uri = f"file:{quote(str(db.resolve()))}?mode=ro", True
        if immutable:
            target += "&immutable=1"
    else:
        _check_writable_location(db)
        target, uri = str(db), False
    with _translated(db):
        # isolation_level=None: autocommit, so the only transactions are our explicit BEGINs.
        conn = sqlite3.connect(target, uri=uri, timeout=busy_timeout, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _wal_needs_a_writable_folder(db: Path, exc: sqlite3.OperationalError) -> bool:
    """True when a read-only open of a WAL database failed only because SQLite could not create
    its shared-memory file (read-only folder, e.g. results on a read-only share).

    Reading with `immutable=1` is then safe: with no -wal file there are no committed pages
    outside the main file, and nobody can start writing one in a folder that is read-only.
    """
    name = getattr(exc, "sqlite_errorname", "")
    wal = db.with_name(db.name + "-wal")
    has_wal_pages = wal.exists() and wal.stat().st_size > 0
    return name in ("SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT") and not has_wal_pages


def _prepare(conn: sqlite3.Connection, db: Path, *, readonly: bool) -> None:
    """Check the schema, then (for writers) switch to WAL and migrate. Nothing is written to a
    file before it is known to be a compatible gapbench database (or a new, empty one)."""
    state = read_state(conn)
    if state.is_foreign:
        raise UsageError(
            f"{db} is not a gapbench database (it holds another program's tables): "
            "pass another --db."
        )
    check_not_newer(state, str(db))
    if readonly:
        if state.is_empty:
            raise StoreError(f"No results in {db} yet: run `gapbench run ...` first.")
        if state.pending():
            raise StoreError(
                f"{db} was written by an older gapbench and needs upgrading: "
                "run any `gapbench run` on it once, then retry."
            )
    else:
        mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        if mode.lower() != "wal":
            raise StoreError(
                f"{db} cannot use write-ahead logging (journal mode stays {mode!r}): "
                "put it on a local disk or pass another --db."
            )
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn, str(db))
    conn.execute("PRAGMA foreign_keys = ON")


class Store:
    """One open results database. Use `Store.open(...)`, ideally as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, readonly: bool) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly

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
        conn = _connect(db, readonly=readonly, busy_timeout=busy_timeout)
        try:
            with _translated(db):
                try:
                    _prepare(conn, db, readonly=readonly)
                except sqlite3.OperationalError as exc:
                    if not (readonly and _wal_needs_a_writable_folder(db, exc)):
                        raise
                    conn.close()
                    conn = _connect(db, readonly=True, busy_timeout=busy_timeout, immutable=True)
                    _prepare(conn, db, readonly=True)
        except BaseException:
            conn.close()
            raise
        return cls(conn, db, readonly=readonly)

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
        with _translated(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with _translated(self.path):
            return self._conn.execute(sql, params).fetchall()

    # Runs

    def start_run(self, info: RunInfo) -> int:
        """Record a new run (status 'running') and return its id."""
        if not info.created_at:
            info = replace(info, created_at=time.time())
        placeholders = ", ".join("?" for _ in RUN_INFO_COLUMNS)
        with self._write() as conn:
            cur = conn.execute(
                f"INSERT INTO runs ({', '.join(RUN_INFO_COLUMNS)}) VALUES ({placeholders})",
                run_values(info),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def finish_run(
        self, run_id: int, status: RunStatus, measures: RunMeasures | None = None
    ) -> None:
        """Mark a run 'completed', 'interrupted' or 'failed', stamp its end time, and record what
        it measured about itself."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"final run status must be one of {FINAL_STATUSES}, not {status!r}")
        seconds = None if measures is None else measures.generation_seconds
        rss = None if measures is None else measures.peak_rss_mb
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, generation_seconds = ?, "
                "peak_rss_mb = ? WHERE id = ?",
                (status, time.time(), seconds, rss, run_id),
            )
            if cur.rowcount != 1:
                raise ValueError(f"no run with id {run_id} in {self.path}")

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
        """Store one sample in its own transaction. Returns False (and changes nothing) when a
        successful sample with the same key is already stored; a stored failure is replaced."""
        with self._write() as conn:
            return self._upsert(conn, rec)

    def add_samples(self, recs: Sequence[SampleRecord]) -> int:
        """Store many samples in one transaction (all or none); returns how many were written."""
        with self._write() as conn:
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
