"""The PostgreSQL server of the store tests, for runs on Ray against a shared database."""

from tests.store.conftest import pg_url, postgres

__all__ = ["pg_url", "postgres"]
