"""Versioned schema changes: an ordered list of named functions, each applied once.

The pattern is simonw/llm's `llm/migrations.py`: a migration is a plain function decorated with
`@migration`; its name is recorded in `_migrations` when applied, so the list may only ever grow
at the end and a migration is never edited once released. `PRAGMA user_version` mirrors the count,
so a database written by a newer gapbench is recognised by reading one header field, before
anything is written to it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from gapbench.errors import StoreError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Register `fn` as the next migration. Append only: order is the schema's history."""
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_create_runs_and_samples(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'completed', 'interrupted', 'failed')),
            finished_at REAL,
            gapbench_version TEXT NOT NULL,
            model_id TEXT NOT NULL,
            model_sha256 TEXT,
            backend TEXT NOT NULL,
            engine_version TEXT NOT NULL,
            sampling TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            threads INTEGER,
            batch_size INTEGER NOT NULL,
            device TEXT NOT NULL,
            command TEXT NOT NULL,
            created_at REAL NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX runs_model_id ON runs (model_id)")
    conn.execute(
        """
        CREATE TABLE samples (
            id INTEGER PRIMARY KEY,
            model_id TEXT NOT NULL,
            task TEXT NOT NULL,
            task_version TEXT NOT NULL,
            seed INTEGER NOT NULL,
            instance_index INTEGER NOT NULL,
            difficulty TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            prompt TEXT NOT NULL,
            output TEXT NOT NULL,
            reasoning TEXT,
            extracted TEXT,
            extraction_ok INTEGER NOT NULL CHECK (extraction_ok IN (0, 1)),
            correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
            reference TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            finish_reason TEXT NOT NULL,
            ttft_s REAL,
            latency_s REAL NOT NULL,
            error TEXT,
            created_at REAL NOT NULL,
            UNIQUE (model_id, task, task_version, seed, instance_index, difficulty, settings_hash)
        )
        """
    )
    # The UNIQUE index already serves lookups by (model_id, task, ...); this one serves reports
    # that select by task across models.
    conn.execute("CREATE INDEX samples_task ON samples (task)")
    conn.execute("CREATE INDEX samples_run_id ON samples (run_id)")


@migration
def m002_run_measures(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE runs ADD COLUMN generation_seconds REAL")
    conn.execute("ALTER TABLE runs ADD COLUMN peak_rss_mb REAL")


@migration
def m003_sample_reasoning_tokens_and_retries(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE samples ADD COLUMN reasoning_tokens INTEGER")
    conn.execute("ALTER TABLE samples ADD COLUMN retries INTEGER NOT NULL DEFAULT 0")


@migration
def m004_sample_draw(conn: sqlite3.Connection) -> None:
    """A draw index joins the sample key, so one instance can hold several samples (pass@k).

    SQLite cannot change a UNIQUE constraint in place, so this is its documented 12-step table
    rebuild: create the new table, copy every row (each becomes draw 0, which is what it was),
    drop the old one, rename, recreate the indexes. Foreign keys are off while migrations run
    (the store turns them on afterwards), and nothing references samples, so the swap is safe.
    """
    conn.execute(
        """
        CREATE TABLE samples_m004 (
            id INTEGER PRIMARY KEY,
            model_id TEXT NOT NULL,
            task TEXT NOT NULL,
            task_version TEXT NOT NULL,
            seed INTEGER NOT NULL,
            instance_index INTEGER NOT NULL,
            difficulty TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            draw INTEGER NOT NULL DEFAULT 0 CHECK (draw >= 0),
            run_id INTEGER NOT NULL REFERENCES runs (id),
            prompt TEXT NOT NULL,
            output TEXT NOT NULL,
            reasoning TEXT,
            extracted TEXT,
            extraction_ok INTEGER NOT NULL CHECK (extraction_ok IN (0, 1)),
            correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
            reference TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            finish_reason TEXT NOT NULL,
            ttft_s REAL,
            latency_s REAL NOT NULL,
            error TEXT,
            created_at REAL NOT NULL,
            reasoning_tokens INTEGER,
            retries INTEGER NOT NULL DEFAULT 0,
            UNIQUE (
                model_id, task, task_version, seed, instance_index, difficulty, settings_hash, draw
            )
        )
        """
    )
    # Named columns, not SELECT *: the old table's column order is whatever ALTERs left it.
    columns = (
        "id, model_id, task, task_version, seed, instance_index, difficulty, settings_hash, "
        "run_id, prompt, output, reasoning, extracted, extraction_ok, correct, reference, "
        "prompt_tokens, completion_tokens, finish_reason, ttft_s, latency_s, error, created_at, "
        "reasoning_tokens, retries"
    )
    conn.execute(f"INSERT INTO samples_m004 ({columns}) SELECT {columns} FROM samples")
    conn.execute("DROP TABLE samples")
    conn.execute("ALTER TABLE samples_m004 RENAME TO samples")
    conn.execute("CREATE INDEX samples_task ON samples (task)")
    conn.execute("CREATE INDEX samples_run_id ON samples (run_id)")


@migration
def m005_claims_and_run_holders(conn: sqlite3.Connection) -> None:
    """Claims on samples in flight, and who runs each run, so that concurrent runs split the work
    instead of redoing it and a run whose process is gone can be told from a live one.

    A claim is a sample key with the run that holds it and when that hold expires; the holder
    renews it while it lives and deletes it with the stored sample, so the table only ever holds
    the samples in flight. Taking a claim is one upsert that succeeds only over an expired one,
    which reads the same in PostgreSQL. A run records the host and process that run it and when
    its lease expires, its own generation count and summed latency (its time is then charged
    only to what it generated, see perf/attribution.py).
    """
    for column, kind in (
        ("host", "TEXT"),
        ("pid", "INTEGER"),
        ("process_started", "TEXT"),
        ("lease_expires_at", "REAL"),
        ("latency_seconds", "REAL"),
        ("generations", "INTEGER"),
    ):
        conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    conn.execute(
        """
        CREATE TABLE claims (
            model_id TEXT NOT NULL,
            task TEXT NOT NULL,
            task_version TEXT NOT NULL,
            seed INTEGER NOT NULL,
            instance_index INTEGER NOT NULL,
            difficulty TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            draw INTEGER NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            expires_at REAL NOT NULL,
            PRIMARY KEY (
                model_id, task, task_version, seed, instance_index, difficulty, settings_hash, draw
            )
        )
        """
    )
    conn.execute("CREATE INDEX claims_run_id ON claims (run_id)")


@migration
def m006_sample_prompt_and_score_method(conn: sqlite3.Connection) -> None:
    """Each sample says how it was asked and how its score was read.

    `prompt_style` ('chat', 'chat-reasoning', 'fewshot-3'...) and `prompt_variant` (which of the
    phrasings of --prompt-variants) tell a sample's phrasing apart, so the leaderboard can show
    how accuracy moves between phrasings; `score_method` is the reader's account ('boxed',
    'repetition-loop', 'fenced:timeout'...), so that why an output holds no answer stays visible.
    Samples stored before take their run's prompt style (the runs table always recorded it), the
    first phrasing, and no method (it was never stored).
    """
    conn.execute("ALTER TABLE samples ADD COLUMN prompt_style TEXT")
    conn.execute("ALTER TABLE samples ADD COLUMN prompt_variant INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE samples ADD COLUMN score_method TEXT")
    conn.execute(
        "UPDATE samples SET prompt_style = "
        "(SELECT json_extract(runs.sampling, '$.prompt_style') FROM runs WHERE runs.id = run_id)"
    )


@dataclass(frozen=True)
class SchemaState:
    """What a database says about its own schema, read without writing anything."""

    user_version: int
    applied: tuple[str, ...]
    """Names recorded in `_migrations`, in the order they were applied."""
    has_migrations_table: bool
    other_tables: tuple[str, ...]
    """Tables that are not `_migrations`: a gapbench database has some only once migrated."""

    @property
    def is_empty(self) -> bool:
        """True for a new (or never initialised) file: nothing of anyone's in it yet."""
        return self.user_version == 0 and not self.has_migrations_table and not self.other_tables

    @property
    def is_foreign(self) -> bool:
        """True for a SQLite database that another program made (tables, but no gapbench trace)."""
        return self.user_version == 0 and not self.has_migrations_table and bool(self.other_tables)

    def unknown(self) -> list[str]:
        """Applied migration names this gapbench does not know: written by a newer one."""
        known = {fn.__name__ for fn in MIGRATIONS}
        return [name for name in self.applied if name not in known]

    def pending(self) -> list[Migration]:
        """Known migrations not yet applied, in order."""
        done = set(self.applied)
        return [fn for fn in MIGRATIONS if fn.__name__ not in done]


def read_state(conn: sqlite3.Connection) -> SchemaState:
    """Read the schema state. Only reads, so it is safe on a file we may end up refusing."""
    user_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    has_table = "_migrations" in tables
    applied: tuple[str, ...] = ()
    if has_table:
        rows = conn.execute("SELECT name FROM _migrations ORDER BY id").fetchall()
        applied = tuple(str(row[0]) for row in rows)
    others = tuple(t for t in tables if t != "_migrations")
    return SchemaState(user_version, applied, has_table, others)


def check_not_newer(state: SchemaState, where: str) -> None:
    """Raise StoreError when the database was written by a newer gapbench than this one."""
    known = len(MIGRATIONS)
    if state.user_version > known or state.unknown():
        theirs = max(state.user_version, len(state.applied))
        raise StoreError(
            f"{where} was written by a newer gapbench (schema {theirs}, this one knows {known}): "
            "upgrade gapbench or use another --db."
        )


def migrate(conn: sqlite3.Connection, where: str) -> list[str]:
    """Apply the pending migrations in one transaction and return their names.

    The state is read again inside the write transaction because another gapbench may have
    migrated the same file between our first look and taking the lock. The connection must be in
    autocommit mode (isolation_level=None) so that BEGIN/COMMIT here are the only transaction.
    """
    if not read_state(conn).pending():
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        state = read_state(conn)
        check_not_newer(state, where)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations ("
            "id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at REAL NOT NULL)"
        )
        applied: list[str] = []
        for fn in state.pending():
            fn(conn)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, time.time()),
            )
            applied.append(fn.__name__)
        # PRAGMA takes no parameters; the value is our own int, not user input.
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied
