"""The PostgreSQL server of the store tests: started once per session, when a test asks for it,
and skipped (with the reason) only where PostgreSQL's binaries are not installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.store.postgres_server import MISSING_REASON, PostgresServer, find_bindir, start


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(MISSING_REASON)
    server = start(bindir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A new, empty database on the session's server: its URL, password included."""
    return postgres.create_database()
