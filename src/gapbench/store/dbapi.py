"""The part of a database connection the store and the report use, common to both databases.

A `sqlite3.Connection` has this shape as it is; store/postgres.py wraps a psycopg connection to
have it too (`?` placeholders, rows read by position or by column name), so that the SQL the two
share is written once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ..., /) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def close(self) -> None: ...


def is_postgres(conn: Connection) -> bool:
    """True for a PostgreSQL connection (the few statements that differ ask this)."""
    return getattr(conn, "dialect", "sqlite") == "postgresql"
