"""What SQLAlchemy Core would cost the store: the statement the store runs most (one sample
stored in its own transaction, ON CONFLICT on its unique key) through the driver directly
(sqlite3, psycopg 3, as gapbench does) and through SQLAlchemy Core 2 (`text()` statements on an
Engine, the same driver underneath), on SQLite and on PostgreSQL.

    .venv/bin/pip install 'sqlalchemy>=2'          # not a gapbench dependency
    .venv/bin/python benchmarks/bench_sqlalchemy.py --rows 5000 --repeats 3

PostgreSQL is a throwaway server on 127.0.0.1 started as the tests start theirs
(tests/store/postgres_server.py); sessions commit with synchronous_commit=off as the store's do.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DDL = (
    "CREATE TABLE s (id INTEGER PRIMARY KEY, model TEXT NOT NULL, idx INTEGER NOT NULL, "
    "output TEXT NOT NULL, correct INTEGER NOT NULL, UNIQUE (model, idx))"
)
DDL_PG = DDL.replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY")
UPSERT = (
    "INSERT INTO s (model, idx, output, correct) VALUES ({0}, {1}, {2}, {3}) "
    "ON CONFLICT (model, idx) DO UPDATE SET output = excluded.output, correct = excluded.correct"
)
OUTPUT = "Let me think. I worked it out step by step. Answer: 42"


def rate(rows: int, store_one: Callable[[int], None]) -> float:
    start = time.perf_counter()
    for i in range(rows):
        store_one(i)
    return rows / (time.perf_counter() - start)


def sqlalchemy_rate(engine: Any, ddl: str, rows: int) -> float:
    """`rate` through SQLAlchemy Core: the table made by `ddl`, each row upserted with `text()`
    in a transaction of its own (`engine.begin()`); the engine is disposed of afterwards."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text(ddl))
    sql = text(UPSERT.format(":model", ":idx", ":output", ":correct"))

    def one(i: int) -> None:
        with engine.begin() as conn:
            conn.execute(sql, {"model": "m", "idx": i, "output": OUTPUT, "correct": i % 2})

    try:
        return rate(rows, one)
    finally:
        engine.dispose()


def sqlite_direct(path: Path, rows: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(DDL)
    sql = UPSERT.format("?", "?", "?", "?")

    def one(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(sql, ("m", i, OUTPUT, i % 2))
        conn.execute("COMMIT")

    try:
        return rate(rows, one)
    finally:
        conn.close()


def sqlite_sqlalchemy(path: Path, rows: int) -> float:
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    return sqlalchemy_rate(engine, DDL, rows)


def pg_direct(url: str, rows: int) -> float:
    import psycopg

    conn = psycopg.connect(url)
    conn.execute("SET synchronous_commit = off")
    conn.execute(DDL_PG)
    conn.commit()
    sql = UPSERT.format("%s", "%s", "%s", "%s")

    def one(i: int) -> None:
        with conn.transaction():
            conn.execute(sql, ("m", i, OUTPUT, i % 2))

    try:
        return rate(rows, one)
    finally:
        conn.close()


def pg_sqlalchemy(url: str, rows: int) -> float:
    from sqlalchemy import create_engine

    # The session setting once per connection, as the direct path does (not per transaction).
    engine = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://"),
        connect_args={"options": "-c synchronous_commit=off"},
    )
    return sqlalchemy_rate(engine, DDL_PG, rows)


def main() -> None:
    from tests.store.postgres_server import running

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-sqla-"))
    results: dict[str, list[float]] = {}
    with running() as server:
        for r in range(args.repeats):
            runs: list[tuple[str, Callable[..., float], object]] = [
                ("SQLite, sqlite3", sqlite_direct, folder / f"a{r}.db"),
                ("SQLite, SQLAlchemy Core", sqlite_sqlalchemy, folder / f"b{r}.db"),
                ("PostgreSQL, psycopg", pg_direct, server.create_database()),
                ("PostgreSQL, SQLAlchemy Core", pg_sqlalchemy, server.create_database()),
            ]
            for name, fn, where in runs:
                results.setdefault(name, []).append(fn(where, args.rows))
    print(f"| driver path | rows stored/s, median of {args.repeats} | best |")
    print("|---|---|---|")
    for name, rates in results.items():
        print(f"| {name} | {statistics.median(rates):,.0f} | {max(rates):,.0f} |")


if __name__ == "__main__":
    main()
