"""Where the results live: a SQLite file path or a PostgreSQL URL, and keeping the URL's password
out of everything gapbench shows or stores.

A password written into `--db postgresql://user:secret@host/name` is taken out of the value at the
command line (`conceal`), kept here in memory for this process's connections, and the rest of
gapbench only ever sees `postgresql://user@host/name`: that is what titles, messages, reports and
the web page show, so none of them can leak it. The runs table records the command line, which
the store passes through `scrub` first. Standard library only: `gapbench --help` imports it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
"""URL schemes that name a PostgreSQL database (the last is SQLAlchemy's spelling)."""

_URL = re.compile(r"(?i)\bpostgres(?:ql)?(?:\+psycopg)?://[^\s'\"]+")
_PASSWORDS: dict[str, str] = {}
"""Concealed URL -> the password taken out of it, for this process's own connections."""


def is_postgres_url(value: str) -> bool:
    """True when `value` names a PostgreSQL database rather than a SQLite file."""
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def _strip(url: str) -> tuple[str, str | None]:
    """`url` without its password (in the user info or as a `password=` parameter), with the
    scheme spelled `postgresql`, and the password (None when it had none)."""
    parts = urlsplit(url)
    password: str | None = None
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at:
        user, colon, secret = userinfo.partition(":")
        if colon:
            password = unquote(secret)
        netloc = f"{user}@{hostport}" if user else hostport
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if k.lower() != "password"]
    if len(kept) != len(query):
        password = next(v for k, v in query if k.lower() == "password")
    return urlunsplit(("postgresql", netloc, parts.path, urlencode(kept), parts.fragment)), password


def conceal(value: str) -> str:
    """`value` as the rest of gapbench may see it: a PostgreSQL URL without its password (which
    this process keeps for its own connections); anything else unchanged."""
    if not is_postgres_url(value):
        return value
    shown, password = _strip(value)
    if password is not None:
        _PASSWORDS[shown] = password
    return shown


def password_for(url: str) -> str | None:
    """The password `conceal` took out of `url`, if any (else libpq reads PGPASSWORD or
    ~/.pgpass itself)."""
    return _PASSWORDS.get(conceal(url))


def scrub(text: str) -> str:
    """`text` with the password of every PostgreSQL URL in it removed."""
    return _URL.sub(lambda m: _strip(m.group(0))[0], text)
