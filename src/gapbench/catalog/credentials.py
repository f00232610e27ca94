"""Credentials written into endpoint URLs (`http://user:password@host/v1`): split off for the
request, and kept out of every name, message and stored command.

A model id, a table row or `runs.command` shows the URL without them; only the HTTP backend's
Authorization header carries them, inside a `Secret`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#]*@")
"""scheme://userinfo@ (greedy up to the last '@' before the path, as urlsplit reads a
password that holds an '@')."""


def public_url(url: str) -> str:
    """A URL without user:password, for names, provenance and messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


def url_credentials(url: str) -> tuple[str, str] | None:
    """(user, password) written in the URL, percent-decoded; None when there are none."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    return unquote(parts.username or ""), unquote(parts.password or "")


def strip_credentials(text: str) -> str:
    """`text` (a command line, a model reference, an error) with every URL's user:password
    replaced by '***', so a reader still sees that credentials were given."""
    return _USERINFO.sub(r"\1***@", text)
