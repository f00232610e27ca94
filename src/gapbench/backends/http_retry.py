"""Which failures of an HTTP model API to retry, and how long to wait before the next attempt.

Pure functions and records, no I/O, so the policy is tested without a server.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
"""Client-error codes that mean 'try again later' (plus every 5xx)."""
FATAL_STATUS = frozenset({401, 403, 404})
"""Codes that will fail every request the same way (bad key, no access, wrong URL or model): the
first one stops the batch from sending more."""


class AttemptFailed(Exception):
    """One attempt at one request failed; says whether another attempt may succeed."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        """Seconds the server asked us to wait (Retry-After), if it said."""
        self.fatal = fatal


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter."""

    max_retries: int = 5
    """Attempts after the first; a request is tried at most max_retries + 1 times."""
    backoff_s: float = 1.0
    """Scale of the first wait; each later wait doubles, up to max_backoff_s."""
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 300.0
    """Cap on a server's Retry-After: an hour-long ban is better reported than waited out."""

    def wait_s(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry).

        A server's Retry-After wins (capped); otherwise 'equal jitter': half the exponential step
        fixed, half random, so clients that failed together do not retry together, and none
        retries at once into a server that is shedding load.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        step = min(self.max_backoff_s, self.backoff_s * 2.0**retry)
        return step / 2 + rng.uniform(0, step / 2)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from 'retry-after-ms' or 'Retry-After' (delta seconds or an HTTP date);
    None when absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one is read as such
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_failure(status: int, message: str, headers: Mapping[str, str]) -> AttemptFailed:
    """Classify an HTTP error status into a retryable, permanent or fatal failure."""
    reason = f"HTTP {status}" + (f": {message}" if message else "")
    if status == 429 or status in RETRYABLE_STATUS or status >= 500:
        return AttemptFailed(reason, retryable=True, retry_after=parse_retry_after(headers))
    if status in FATAL_STATUS:
        hint = {
            401: " (check the API key)",
            403: " (the key has no access to this model)",
            404: " (check the base URL, which usually ends in /v1, and the model name)",
        }[status]
        return AttemptFailed(reason + hint, retryable=False, fatal=True)
    return AttemptFailed(reason, retryable=False)
