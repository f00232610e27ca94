"""Opening the results file: refusing paths that cannot hold it, translating SQLite's failures
into errors that say what to do, checking the schema before anything is written, and reading a
database that sits in a read-only folder or on a read-only mount.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from gapbench.errors import GapbenchError, NoResultsError, StoreError, UsageError
from gapbench.store.migrations import check_not_newer, migrate, read_state


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
def translated(path: Path) -> Iterator[None]:
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


def check_readable(db: Path) -> None:
    """A reader's --db must be a file that exists: a folder is a usage error, a missing file
    an input error with nothing to read (SQLite would otherwise open either as an empty
    database). Readers call it before opening; report and serve also before anything else."""
    if db.is_dir():
        raise UsageError(f"{db} is a folder, not a database file: pass a file path to --db.")
    if not db.exists():
        raise NoResultsError(
            f"No database at {db}: run `gapbench run ... --db {db}` first or pass another --db."
        )


def _connect(
    db: Path, *, readonly: bool, busy_timeout: float, immutable: bool = False
) -> sqlite3.Connection:
    if readonly:
        check_readable(db)
        # mode=ro: SQLite itself refuses every write, so reports can never alter results.
        target, uri = f"file:{quote(str(db.resolve()))}?mode=ro", True
        if immutable:
            target += "&immutable=1"
    else:
        _check_writable_location(db)
        target, uri = str(db), False
    with translated(db):
        # isolation_level=None: autocommit, so the only transactions are our explicit BEGINs.
        conn = sqlite3.connect(target, uri=uri, timeout=busy_timeout, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


_NO_SHARED_MEMORY = ("SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT", "SQLITE_CANTOPEN")
"""What SQLite answers when a reader of a WAL database cannot create its -shm file: the first
two in a folder it may not write, SQLITE_CANTOPEN on a read-only mount (EROFS), e.g. a results
file copied onto a read-only share or a container volume mounted read-only."""


def _wal_needs_a_writable_folder(db: Path, exc: sqlite3.OperationalError) -> bool:
    """True when a read-only open of a WAL database failed only because SQLite could not create
    its shared-memory file (read-only folder or mount).

    Reading with `immutable=1` is then safe: with no -wal file there are no committed pages
    outside the main file, and nobody can start writing one in a folder that is read-only.
    """
    name = getattr(exc, "sqlite_errorname", "")
    return name in _NO_SHARED_MEMORY and db.is_file() and not _has_wal_pages(db)


def _has_wal_pages(db: Path) -> bool:
    wal = db.with_name(db.name + "-wal")
    return wal.exists() and wal.stat().st_size > 0


def _unreadable_wal(db: Path) -> StoreError:
    return StoreError(
        f"{db} has committed pages in {db.name}-wal that SQLite can only read with write access "
        "to its folder: copy the database (with its -wal file) to a writable folder, or "
        "checkpoint it where it was written (sqlite3 FILE 'PRAGMA wal_checkpoint(TRUNCATE)') "
        "before copying it here."
    )


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
            raise NoResultsError(f"No results in {db} yet: run `gapbench run ...` first.")
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


def open_connection(db: Path, *, readonly: bool, busy_timeout: float) -> sqlite3.Connection:
    """A checked (and, for writers, migrated) connection to `db`. Raises UsageError for a path
    that cannot be or is not a gapbench database and StoreError when the database cannot be used
    now; a refused file is never modified."""
    conn = _connect(db, readonly=readonly, busy_timeout=busy_timeout)
    try:
        with translated(db):
            try:
                _prepare(conn, db, readonly=readonly)
            except sqlite3.OperationalError as exc:
                if not readonly:
                    raise
                if not _wal_needs_a_writable_folder(db, exc):
                    name = getattr(exc, "sqlite_errorname", "")
                    if name in _NO_SHARED_MEMORY and _has_wal_pages(db):
                        raise _unreadable_wal(db) from exc
                    raise
                conn.close()
                conn = _connect(db, readonly=True, busy_timeout=busy_timeout, immutable=True)
                _prepare(conn, db, readonly=True)
    except BaseException:
        conn.close()
        raise
    return conn
