"""The results store on a PostgreSQL server, shared by runners on several machines.

`--db postgresql://user@host:5432/name` (the `postgres` extra: psycopg 3). The tables are those of
the SQLite file, in a schema of their own (`gapbench`), so that a team's database can hold other
things beside them; `PostgresStore` is `Store` with the statements that differ overridden, and the
SQL the two share is written once (`?` placeholders, translated here).

Why not SQLAlchemy: SQLite must stay a zero-dependency default, so it stays on the standard
library's sqlite3; the store's SQL is already plain SQL that both databases run as written
(upserts with ON CONFLICT included) except for a handful of statements, overridden below; and
the schema's history is an ordered list of named migrations recorded in the database itself,
which a second description of the tables (SQLAlchemy's metadata, Alembic's revisions) would only
duplicate. The same migration names are applied here, with PostgreSQL's types, so both databases
record the same schema versions and a newer gapbench's database is refused the same way. And
measured (benchmarks/bench_sqlalchemy.py, docs/benchmarks.md): the store's most frequent
statement, one sample upserted in its own transaction, runs 2.6x slower through SQLAlchemy Core
2.1 than through sqlite3 (14,530 against 38,347 rows/s) and 1.6x slower than through psycopg
directly (4,770 against 7,737); the store's own PostgreSQL throughput (3,600-7,000 samples/s
with the runner's writer thread and pipelined claims, docs/benchmarks.md) has that margin only
because nothing sits between it and the driver.

Concurrency: runners do not take one lock over the whole database as SQLite's writers do. Each
write is a short transaction at READ COMMITTED, most of them a single statement (storing a
sample and releasing its claim is one); a sample is stored once by the unique key and
`INSERT ... ON CONFLICT`; claims are taken as `claim` explains, never waiting on a claim that
another runner is busy with (`FOR UPDATE SKIP LOCKED`); and the rare deadlock or serialization
failure between two runners' transactions is retried whole.

Durability: each session runs with `synchronous_commit = off`, the counterpart of SQLite's
`synchronous = NORMAL` (repository.py): a crash of the server's machine can lose the last
fraction of a second of commits, never corrupt anything, and a rerun regenerates exactly those.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gapbench.errors import GapbenchError, NoResultsError, StoreError, UsageError
from gapbench.store import leases
from gapbench.store.dbapi import Connection
from gapbench.store.location import conceal, password_for, scrub
from gapbench.store.records import SampleKey, SampleRecord
from gapbench.store.repository import DEFAULT_BUSY_TIMEOUT_S, Store
from gapbench.store.schema import KEY_COLUMNS, key_values, sample_values

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

SCHEMA = "gapbench"
"""The PostgreSQL schema (namespace) that holds gapbench's tables."""
INSTALL_HINT = "pip install 'gapbench[postgres]'"
_MIGRATION_LOCK = 0x67617062656E6368 & 0x7FFFFFFFFFFFFFFF
"""Advisory lock key held while migrating, so that runners starting at once migrate once."""
_RETRIES = 8


# Connections: `?` placeholders and rows read by position or name, as sqlite3 has them


@lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    """`sql` with `?` placeholders as psycopg's `%s` (and a literal `%` doubled). The store's
    and the report's SQL hold no `?` inside string literals; quoted text is copied as is."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if ch == "%":
            out.append("%%")
        elif quote:
            out.append(ch)
            if ch == quote:
                quote = ""
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


class Row:
    """A result row, read by position or by column name as a sqlite3.Row is."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: dict[str, int]) -> None:
        self._values = values
        self._names = names

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._names[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    description = cursor.description or []
    # The first column of a name wins, as in sqlite3.Row.
    names = {col.name: i for i, col in reversed(list(enumerate(description)))}
    return lambda values: Row(values, names)


class PgConnection:
    """A psycopg connection in autocommit mode with the store's `Connection` shape; write
    transactions are explicit (`transaction()`)."""

    dialect = "postgresql"

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[Any]:
        # Always with a parameter list, even empty, so that `%%` always reads as `%`.
        return self.raw.execute(_pg_sql(sql), list(parameters))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """`sql` run once per row, all in one round trip; the rows it wrote in all."""
        with self.raw.cursor() as cur:
            cur.executemany(_pg_sql(sql), [list(row) for row in rows])
            return cur.rowcount

    def transaction(self) -> AbstractContextManager[Any]:
        return self.raw.transaction()

    def close(self) -> None:
        self.raw.close()


# Errors


def _reason(exc: BaseException) -> str:
    """libpq's own words, without its 'connection to server at ... failed:' preamble."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    reason = first.rsplit("failed: ", 1)[-1] if "failed: " in first else first
    for prefix in ("FATAL:", "ERROR:"):
        reason = reason.removeprefix(prefix).strip()
    return scrub(" ".join(reason.split())).rstrip(".")


def connect_error(shown: str, exc: BaseException) -> GapbenchError:
    """The user-facing error for a connection that could not be made."""
    reason = _reason(exc)
    low = str(exc).lower()
    if any(
        s in low
        for s in ("password authentication failed", "no password supplied", "authentication")
    ) or ("role" in low and "does not exist" in low):
        return UsageError(
            f"Cannot log in to {shown} ({reason}): check the user name and the password "
            "(PGPASSWORD, ~/.pgpass or the URL) or pass another --db."
        )
    if "database" in low and "does not exist" in low:
        return UsageError(
            f"{shown} names a database that does not exist ({reason}): create it "
            "(createdb NAME) or pass another --db."
        )
    if "invalid" in low:  # libpq on a malformed URL: invalid URI query parameter, port value...
        return UsageError(
            f"{shown} is not a usable PostgreSQL URL ({reason}): write it as "
            "postgresql://user@host:5432/name."
        )
    return StoreError(
        f"Cannot reach the PostgreSQL server of {shown} ({reason}): check that it runs and "
        "accepts connections from this machine, or pass another --db."
    )


_RETRYABLE = ("40P01", "40001")
"""Deadlock and serialization failure: the transaction is rolled back whole and run again."""


def translate_error(where: str, exc: psycopg.Error) -> GapbenchError | None:
    """The user-facing error for a PostgreSQL failure, or None when it is a bug of ours (or a
    conflict that the caller retries)."""
    import psycopg

    state = exc.sqlstate or ""
    reason = _reason(exc)
    if state in _RETRYABLE:
        return None
    if state == "55P03":
        return StoreError(
            f"{where} is locked: another gapbench holds what this one must write; "
            "wait for it to finish or pass another --db."
        )
    if state == "25006":
        return StoreError(
            f"{where} refuses writes ({reason}): gapbench must write results there; "
            "connect as a user that may write or pass another --db."
        )
    if state == "42501":
        return StoreError(
            f"{where} refuses what gapbench needs ({reason}): grant the user CREATE on the "
            f"database (or USAGE and CREATE on its schema {SCHEMA!r}) or pass another --db."
        )
    if state.startswith("53"):
        return StoreError(
            f"{where} is out of resources ({reason}): free some space or connections on the "
            "server, then rerun the same command to resume."
        )
    if state.startswith(("08", "57")) or (not state and isinstance(exc, psycopg.OperationalError)):
        return StoreError(
            f"Lost the connection to {where} ({reason}): check that the server is up, then rerun "
            "the same command to resume."
        )
    return None


@contextmanager
def translated(where: str) -> Iterator[None]:
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        mapped = translate_error(where, exc)
        if mapped is None:
            raise
        raise mapped from exc


def _is_retryable(exc: BaseException) -> bool:
    return getattr(exc, "sqlstate", None) in _RETRYABLE


def connect(
    shown: str, *, readonly: bool, busy_timeout: float, connect_timeout: float | None = None
) -> PgConnection:
    """A session on the database of `shown` (a URL without password, see location.py): search
    path on gapbench's schema, commits without waiting for the disk, lock waits bounded by
    `busy_timeout`, and, for readers, no writes at all."""
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
        from psycopg.types.numeric import FloatLoader
    except ImportError:
        raise UsageError(
            f"--db {shown} needs the PostgreSQL driver, which is not installed: {INSTALL_HINT}."
        ) from None
    try:
        params: dict[str, Any] = dict(conninfo_to_dict(shown))
    except psycopg.Error as exc:
        raise connect_error(shown, exc) from None
    timeout = connect_timeout if connect_timeout is not None else max(2.0, busy_timeout)
    params.setdefault("connect_timeout", str(max(2, round(timeout))))
    params.setdefault("application_name", "gapbench")
    password = password_for(shown)
    if password is not None:
        params["password"] = password
    try:
        raw = psycopg.connect(autocommit=True, row_factory=_row_factory, **params)
    except psycopg.Error as exc:
        raise connect_error(shown, exc) from None
    # AVG and SUM of integers are numeric in PostgreSQL: read them as floats, as SQLite has them.
    raw.adapters.register_loader("numeric", FloatLoader)
    conn = PgConnection(raw)
    try:
        with translated(shown):
            conn.execute(
                "SELECT set_config('search_path', ?, false), "
                "set_config('synchronous_commit', 'off', false), "
                "set_config('lock_timeout', ?, false), "
                "set_config('default_transaction_read_only', ?, false)",
                (SCHEMA, f"{max(1, round(busy_timeout * 1000))}ms", "on" if readonly else "off"),
            )
    except BaseException:
        conn.close()
        raise
    return conn


# Schema versions: the same migration names as migrations.py, with PostgreSQL's types

PgMigration = Callable[[PgConnection], None]
PG_MIGRATIONS: list[PgMigration] = []

_TEXT = 'TEXT COLLATE "C"'
"""Text compares and sorts by code point, as in SQLite, whatever the server's locale: the report
orders instances and models by these columns, and their order feeds the bootstrap."""
_REAL = "DOUBLE PRECISION"
"""SQLite's REAL (PostgreSQL's REAL has 24 bits, too few for a Unix time)."""


def pg_migration(fn: PgMigration) -> PgMigration:
    """Register `fn` as the next migration: same name, same place as in migrations.py."""
    PG_MIGRATIONS.append(fn)
    return fn


@pg_migration
def m001_create_runs_and_samples(conn: PgConnection) -> None:
    t, r = _TEXT, _REAL
    conn.execute(
        f"""
        CREATE TABLE runs (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            status {t} NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'completed', 'interrupted', 'failed')),
            finished_at {r},
            gapbench_version {t} NOT NULL,
            model_id {t} NOT NULL,
            model_sha256 {t},
            backend {t} NOT NULL,
            engine_version {t} NOT NULL,
            sampling {t} NOT NULL,
            settings_hash {t} NOT NULL,
            threads INTEGER,
            batch_size INTEGER NOT NULL,
            device {t} NOT NULL,
            command {t} NOT NULL,
            created_at {r} NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX runs_model_id ON runs (model_id)")
    conn.execute(
        f"""
        CREATE TABLE samples (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            model_id {t} NOT NULL,
            task {t} NOT NULL,
            task_version {t} NOT NULL,
            seed BIGINT NOT NULL,
            instance_index BIGINT NOT NULL,
            difficulty {t} NOT NULL,
            settings_hash {t} NOT NULL,
            run_id BIGINT NOT NULL REFERENCES runs (id),
            prompt {t} NOT NULL,
            output {t} NOT NULL,
            reasoning {t},
            extracted {t},
            extraction_ok INTEGER NOT NULL CHECK (extraction_ok IN (0, 1)),
            correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
            reference {t} NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            finish_reason {t} NOT NULL,
            ttft_s {r},
            latency_s {r} NOT NULL,
            error {t},
            created_at {r} NOT NULL,
            CONSTRAINT samples_key UNIQUE
                (model_id, task, task_version, seed, instance_index, difficulty, settings_hash)
        )
        """
    )
    conn.execute("CREATE INDEX samples_task ON samples (task)")
    conn.execute("CREATE INDEX samples_run_id ON samples (run_id)")


@pg_migration
def m002_run_measures(conn: PgConnection) -> None:
    conn.execute(
        f"ALTER TABLE runs ADD COLUMN generation_seconds {_REAL}, ADD COLUMN peak_rss_mb {_REAL}"
    )


@pg_migration
def m003_sample_reasoning_tokens_and_retries(conn: PgConnection) -> None:
    conn.execute(
        "ALTER TABLE samples ADD COLUMN reasoning_tokens INTEGER, "
        "ADD COLUMN retries INTEGER NOT NULL DEFAULT 0"
    )


@pg_migration
def m004_sample_draw(conn: PgConnection) -> None:
    """The draw joins the sample key (PostgreSQL changes a constraint in place)."""
    conn.execute(
        "ALTER TABLE samples ADD COLUMN draw INTEGER NOT NULL DEFAULT 0 CHECK (draw >= 0), "
        "DROP CONSTRAINT samples_key, ADD CONSTRAINT samples_key UNIQUE "
        "(model_id, task, task_version, seed, instance_index, difficulty, settings_hash, draw)"
    )


@pg_migration
def m005_claims_and_run_holders(conn: PgConnection) -> None:
    t, r = _TEXT, _REAL
    conn.execute(
        f"ALTER TABLE runs ADD COLUMN host {t}, ADD COLUMN pid BIGINT, "
        f"ADD COLUMN process_started {t}, ADD COLUMN lease_expires_at {r}, "
        f"ADD COLUMN latency_seconds {r}, ADD COLUMN generations BIGINT"
    )
    conn.execute(
        f"""
        CREATE TABLE claims (
            model_id {t} NOT NULL,
            task {t} NOT NULL,
            task_version {t} NOT NULL,
            seed BIGINT NOT NULL,
            instance_index BIGINT NOT NULL,
            difficulty {t} NOT NULL,
            settings_hash {t} NOT NULL,
            draw INTEGER NOT NULL,
            run_id BIGINT NOT NULL REFERENCES runs (id),
            expires_at {r} NOT NULL,
            PRIMARY KEY (
                model_id, task, task_version, seed, instance_index, difficulty, settings_hash, draw
            )
        )
        """
    )
    conn.execute("CREATE INDEX claims_run_id ON claims (run_id)")


@pg_migration
def m006_sample_prompt_and_score_method(conn: PgConnection) -> None:
    conn.execute(
        f"ALTER TABLE samples ADD COLUMN prompt_style {_TEXT}, "
        "ADD COLUMN prompt_variant INTEGER NOT NULL DEFAULT 0, "
        f"ADD COLUMN score_method {_TEXT}"
    )
    conn.execute(
        "UPDATE samples SET prompt_style = "
        "(SELECT runs.sampling::json ->> 'prompt_style' FROM runs WHERE runs.id = samples.run_id)"
    )


@dataclass(frozen=True)
class SchemaState:
    """What gapbench's schema in a database says about itself, read without writing."""

    applied: tuple[str, ...]
    has_migrations_table: bool
    other_tables: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not self.has_migrations_table and not self.other_tables

    @property
    def is_foreign(self) -> bool:
        return not self.has_migrations_table and bool(self.other_tables)

    def unknown(self) -> list[str]:
        known = {fn.__name__ for fn in PG_MIGRATIONS}
        return [name for name in self.applied if name not in known]

    def pending(self) -> list[PgMigration]:
        done = set(self.applied)
        return [fn for fn in PG_MIGRATIONS if fn.__name__ not in done]


def read_state(conn: PgConnection) -> SchemaState:
    tables = [
        str(row[0])
        for row in conn.execute(
            "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relkind IN ('r', 'p') ORDER BY 1",
            (SCHEMA,),
        )
    ]
    has_table = "_migrations" in tables
    applied: tuple[str, ...] = ()
    if has_table:
        rows = conn.execute(f"SELECT name FROM {SCHEMA}._migrations ORDER BY id").fetchall()
        applied = tuple(str(row[0]) for row in rows)
    return SchemaState(applied, has_table, tuple(t for t in tables if t != "_migrations"))


def check_state(state: SchemaState, where: str) -> None:
    """Refuse another program's tables and a schema written by a newer gapbench."""
    if state.is_foreign:
        raise UsageError(
            f"{where} is not a gapbench database (its schema {SCHEMA!r} holds another program's "
            "tables): pass another --db."
        )
    known = len(PG_MIGRATIONS)
    if state.unknown() or len(state.applied) > known:
        raise StoreError(
            f"{where} was written by a newer gapbench (schema {len(state.applied)}, this one "
            f"knows {known}): upgrade gapbench or use another --db."
        )


def migrate(conn: PgConnection, where: str) -> list[str]:
    """Apply the pending migrations in one transaction, under an advisory lock so that runners
    starting together migrate once (the state is read again once the lock is held)."""
    if not read_state(conn).pending():
        return []
    applied: list[str] = []
    with conn.transaction():
        conn.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        state = read_state(conn)
        check_state(state, where)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}._migrations ("
            "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
            f"name {_TEXT} NOT NULL UNIQUE, applied_at {_REAL} NOT NULL)"
        )
        for fn in state.pending():
            fn(conn)
            conn.execute(
                f"INSERT INTO {SCHEMA}._migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, time.time()),
            )
            applied.append(fn.__name__)
    return applied


def prepare(conn: PgConnection, where: str, *, readonly: bool) -> None:
    """Check the schema, then (for writers) migrate; nothing is written before the database is
    known to be a compatible gapbench database, or one with no gapbench tables yet."""
    state = read_state(conn)
    check_state(state, where)
    if readonly:
        if state.is_empty:
            raise NoResultsError(f"No results in {where} yet: run `gapbench run ...` first.")
        if state.pending():
            raise StoreError(
                f"{where} was written by an older gapbench and needs upgrading: "
                "run any `gapbench run` on it once, then retry."
            )
    else:
        migrate(conn, where)


# Claims


_KEY_MATCH = " AND ".join(f"{col} = ?" for col in KEY_COLUMNS)
_IS_STORED = f"SELECT 1 FROM samples WHERE {_KEY_MATCH} AND error IS NULL"
# One key's claim in one statement, which says whether the sample is stored already, whether a
# new claim was inserted, and whether an existing one was taken over: one of ours, or an
# expired one, and then only when no other transaction has it locked right now (it is storing,
# renewing or taking that sample): then it is held, and not waited for. Both writes see the
# statement's one snapshot, so at most one of them finds its row.
_CLAIM_ONE = f"""
    WITH done AS (SELECT 1 FROM samples WHERE {_KEY_MATCH} AND error IS NULL),
    inserted AS (
        INSERT INTO claims ({", ".join(KEY_COLUMNS)}, run_id, expires_at)
        SELECT {", ".join("?" for _ in KEY_COLUMNS)}, ?, ? WHERE NOT EXISTS (SELECT 1 FROM done)
        ON CONFLICT DO NOTHING RETURNING 1),
    taken AS (
        UPDATE claims SET run_id = ?, expires_at = ? WHERE NOT EXISTS (SELECT 1 FROM done)
        AND ctid = (SELECT ctid FROM claims WHERE {_KEY_MATCH} AND (expires_at < ? OR run_id = ?)
                    FOR UPDATE SKIP LOCKED)
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM done), EXISTS (SELECT 1 FROM inserted),
           EXISTS (SELECT 1 FROM taken)"""
_DROP_CLAIM = f"DELETE FROM claims WHERE {_KEY_MATCH} AND run_id = ?"

_SPAN = (
    "model_id = ? AND task = ? AND task_version = ? AND seed = ? "
    "AND instance_index BETWEEN ? AND ? AND difficulty = ? AND settings_hash = ?"
)
"""Keys that differ only in instance index (within a range) and draw: what a chunk of planned
samples shares. Equality on the columns before instance_index in both tables' key index, then
a range: a plan that scans the index, not the table, whatever the statistics say."""
_SPAN_DONE = f"SELECT instance_index, draw FROM samples WHERE {_SPAN} AND error IS NULL"
_SPAN_CLAIMS = f"SELECT instance_index, draw, run_id, expires_at FROM claims WHERE {_SPAN}"
_MAX_GAP = 64
"""Indices further apart than this start a span of their own (deferred keys come back sparse)."""


def _spans(keys: Sequence[SampleKey]) -> list[tuple[Any, ...]]:
    """The parameters of `_SPAN` covering `keys`, each span a run of nearby indices."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for key in keys:
        groups.setdefault(_group(key), []).append(key.index)
    spans = []
    for (model, task, version, seed, difficulty, settings), indices in groups.items():
        ordered = sorted(set(indices))
        low = high = ordered[0]
        for index in ordered[1:]:
            if index - high > _MAX_GAP:
                spans.append((model, task, version, seed, low, high, difficulty, settings))
                low = index
            high = index
        spans.append((model, task, version, seed, low, high, difficulty, settings))
    return spans


def _pipelined(conn: Connection, statements: list[tuple[str, tuple[Any, ...]]]) -> list[list[Any]]:
    """The rows of each statement, all sent in one round trip (psycopg's pipeline) and run in
    order, each with its own snapshot (READ COMMITTED), in one transaction (outside an explicit
    one, the protocol's implicit transaction that ends at the pipeline's sync). Statements over
    one key or one span of keys, rather than a list of keys: a statement over a list gets a
    generic plan that scans the table."""
    assert isinstance(conn, PgConnection)
    with conn.raw.pipeline():
        cursors = [conn.raw.execute(_pg_sql(sql), params) for sql, params in statements]
    return [cur.fetchall() if cur.description else [] for cur in cursors]


def _pipelined_many(
    conn: Connection, batches: list[tuple[str, list[tuple[Any, ...]]]]
) -> list[list[list[Any]]]:
    """`_pipelined` for statements run once per row of parameters (psycopg's executemany, which
    converts each statement once and pipelines its rows): per statement, the rows of each of its
    runs, in order, all in the pipeline's one transaction."""
    assert isinstance(conn, PgConnection)
    results: list[list[list[Any]]] = []
    with conn.raw.pipeline():
        for sql, rows in batches:
            with conn.raw.cursor() as cur:
                cur.executemany(_pg_sql(sql), rows, returning=True)
                mine = []
                while True:
                    mine.append(cur.fetchall() if cur.description else [])
                    if not cur.nextset():
                        break
                results.append(mine)
    return results


def claim(
    conn: Connection, run_id: int, keys: Sequence[SampleKey], now: float, expires_at: float
) -> leases.ClaimOutcome:
    """Claim `keys` for `run_id`, as leases.py `claim` does on SQLite (outside a transaction:
    each of its pipelines is one).

    A key is claimed when it has no stored success and no claim, or a claim that expired or is
    this run's own. Without SQLite's one lock over the database it goes in three steps, each
    one round trip:

    1. the stored successes and the claims of the keys' spans are read: a stored key is done,
       one that another run's live claim covers is held (both go no further; when runners share
       a plan most keys of a chunk are one or the other, so this is where they part cheaply);
    2. each other key is claimed by one statement (`_CLAIM_ONE`): a new claim is inserted with
       ON CONFLICT DO NOTHING (of two runners inserting one key, the second waits for the
       first's commit, a few milliseconds, and finds its claim), an existing one is taken over
       only through FOR UPDATE SKIP LOCKED, so one that another runner's transaction is touching
       is reported held instead of waited for. Then, in statements of their own and so with a
       later snapshot, the stored successes are read again: a sample stored, and its claim
       released, after the claim statement's snapshot was taken had no claim left to conflict
       with, and was claimed again;
    3. the claims of those are dropped, and they count as done.

    Every runner takes keys in their sort order, so two claiming runners never wait for each
    other's rows crosswise.
    """
    distinct = sorted(set(keys), key=key_values)
    spans = _spans(distinct)
    found = _pipelined(
        conn, [(_SPAN_DONE, span) for span in spans] + [(_SPAN_CLAIMS, span) for span in spans]
    )
    stored: set[tuple[Any, ...]] = set()
    live: set[tuple[Any, ...]] = set()
    for span, done_rows, claim_rows in zip(
        spans, found[: len(spans)], found[len(spans) :], strict=True
    ):
        group = (*span[:4], *span[6:])
        stored.update((*group, index, draw) for index, draw in done_rows)
        live.update(
            (*group, index, draw)
            for index, draw, holder, expires in claim_rows
            if holder != run_id and expires >= now
        )

    def ident(key: SampleKey) -> tuple[Any, ...]:
        return (*_group(key), key.index, key.draw)

    done = {key for key in distinct if ident(key) in stored}
    candidates = [key for key in distinct if key not in done and ident(key) not in live]
    claimed: set[SampleKey] = set()
    if candidates:
        claims = []
        for key in candidates:
            k = key_values(key)
            claims.append((*k, *k, run_id, expires_at, run_id, expires_at, *k, now, run_id))
        outcomes, after = _pipelined_many(
            conn, [(_CLAIM_ONE, claims), (_IS_STORED, [key_values(key) for key in candidates])]
        )
        for key, (row,) in zip(candidates, outcomes, strict=True):
            if row[0]:
                done.add(key)
            elif row[1] or row[2]:
                claimed.add(key)
        late = [key for key, hit in zip(candidates, after, strict=True) if hit and key in claimed]
        if late:
            _pipelined(conn, [(_DROP_CLAIM, (*key_values(k), run_id)) for k in late])
            claimed.difference_update(late)
            done.update(late)
    return leases.ClaimOutcome(
        claimed=tuple(k for k in keys if k in claimed),
        done=tuple(k for k in keys if k in done),
        held=tuple(k for k in keys if k not in claimed and k not in done),
    )


def _group(key: SampleKey) -> tuple[Any, ...]:
    return (key.model_id, key.task, key.task_version, key.seed, key.difficulty, key.settings_hash)


def reap_if_writable(shown: str, now: float) -> list[int]:
    """leases.py `reap_if_writable` on PostgreSQL: mark the dead runs interrupted through a
    short-lived session of its own, for readers; never migrates, waits at most half a second
    for a lock, and gives up silently on any failure (the next `gapbench run` does it)."""
    try:
        import psycopg
    except ImportError:
        return []
    try:
        conn = connect(shown, readonly=False, busy_timeout=0.5, connect_timeout=2)
    except GapbenchError:
        return []
    try:
        state = read_state(conn)
        check_state(state, shown)
        if state.is_empty or state.pending():
            return []
        with conn.transaction():
            dead = leases.dead_runs(conn, now, leases.holder_is_gone)
            leases.mark_interrupted(conn, dead, now)
        return dead
    except (psycopg.Error, GapbenchError, OSError):
        return []
    finally:
        conn.close()


class PostgresStore(Store):
    """The results store on PostgreSQL (see the module docstring); open it with `Store.open`."""

    def __init__(
        self,
        conn: PgConnection,
        location: str,
        *,
        readonly: bool,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> None:
        self._conn = conn
        self._pg = conn
        self.location = location
        self.readonly = readonly
        self.busy_timeout = busy_timeout

    @classmethod
    def connect(
        cls, url: str, *, readonly: bool = False, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> PostgresStore:
        shown = conceal(url)
        conn = connect(shown, readonly=readonly, busy_timeout=busy_timeout)
        try:
            with translated(shown):
                prepare(conn, shown, readonly=readonly)
        except BaseException:
            conn.close()
            raise
        return cls(conn, shown, readonly=readonly, busy_timeout=busy_timeout)

    @property
    def path(self) -> Path:
        raise TypeError(f"{self.location} is a PostgreSQL database, not a file: use .location")

    def _translated(self) -> AbstractContextManager[None]:
        return translated(self.location)

    def _retrying(self, once: Callable[[], T]) -> T:
        """`once()`, run again whole (after a short random pause) when PostgreSQL rolled it back
        for a deadlock or a serialization failure with another runner's transaction."""
        self._check_writable()
        for attempt in range(_RETRIES):
            try:
                with self._translated():
                    return once()
            except Exception as exc:
                if not _is_retryable(exc):
                    raise
                if attempt == _RETRIES - 1:
                    raise StoreError(
                        f"{self.location} kept conflicting with other runners' writes "
                        f"({_reason(exc)}): rerun the same command to resume."
                    ) from exc
                time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        raise AssertionError("unreachable")

    def _transaction(self, body: Callable[[Connection], T]) -> T:
        def once() -> T:
            with self._pg.transaction():
                return body(self._conn)

        return self._retrying(once)

    def _insert_run(self, conn: Connection, sql: str, values: Sequence[Any]) -> int:
        return int(conn.execute(sql + " RETURNING id", values).fetchone()[0])

    def claim(
        self, run_id: int, keys: Sequence[SampleKey], now: float, lease_seconds: float
    ) -> leases.ClaimOutcome:
        # Without BEGIN and COMMIT: each of the claim's pipelines is a transaction of its own.
        return self._retrying(lambda: claim(self._conn, run_id, keys, now, now + lease_seconds))

    def _reap_through_another_connection(self, now: float) -> list[int]:
        return reap_if_writable(self.location, now)

    # Storing a sample and releasing its claim in one statement: one round trip, and as one
    # statement it is one transaction (autocommit) without BEGIN and COMMIT around it.
    _STORE_ONE = f"WITH released AS ({_DROP_CLAIM}) {Store._UPSERT}"

    @staticmethod
    def _store_params(rec: SampleRecord, now: float) -> tuple[Any, ...]:
        """`_STORE_ONE`'s parameters for `rec`, stamped `now` unless it has its time already."""
        if not rec.created_at:
            rec = replace(rec, created_at=now)
        return (*key_values(rec.key), rec.run_id, *sample_values(rec))

    def add_sample(self, rec: SampleRecord) -> bool:
        params = self._store_params(rec, time.time())
        return self._retrying(lambda: self._conn.execute(self._STORE_ONE, params).rowcount > 0)

    def add_samples(self, recs: Sequence[SampleRecord]) -> int:
        # In key order, so that two runners storing overlapping batches lock rows alike; every
        # statement of the batch in one round trip (executemany pipelines them), in one
        # transaction.
        now = time.time()
        params = [
            self._store_params(rec, now)
            for rec in sorted(recs, key=lambda rec: key_values(rec.key))
        ]

        def once() -> int:
            with self._pg.transaction():
                return self._pg.executemany(self._STORE_ONE, params)

        return self._retrying(once) if params else 0
