"""A cheap check, before any sample runs, that each endpoint is up and speaks the OpenAI API, and
what server it is (openai_servers.py).

`GET {base_url}/models` is answered by every OpenAI-compatible server we know (and costs nothing
on hosted APIs). Only clear failures stop the run: no connection, a rejected key, or an answer
that is not the API (an HTML page). Other statuses pass, because some providers do not serve
/models at all; their requests then fail, or not, on their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gapbench.backends.openai_servers import (
    LLAMA_CPP,
    ServerProfile,
    identify,
    props_url,
    total_slots,
)
from gapbench.errors import BackendError, UsageError

if TYPE_CHECKING:
    import httpx

    from gapbench.backends.openai_config import EndpointConfig

PREFLIGHT_TIMEOUT_S = 10.0


def preflight(config: EndpointConfig) -> ServerProfile:
    """Check every base URL of `config`; returns what the servers said about themselves.

    Raises BackendError (exit 1) when an endpoint cannot be reached, and UsageError (exit 2)
    when it rejects the key or is not an OpenAI-compatible API.
    """
    import httpx

    server, kinds, slots = "", [], []
    timeout = httpx.Timeout(PREFLIGHT_TIMEOUT_S, connect=min(5.0, PREFLIGHT_TIMEOUT_S))
    with httpx.Client(timeout=timeout) as client:
        for replica, base_url in enumerate(config.base_urls):
            headers = config.headers(replica)
            try:
                response = client.get(base_url + "/models", headers=headers)
            except httpx.TimeoutException:
                raise BackendError(
                    f"{base_url} did not answer within {PREFLIGHT_TIMEOUT_S:g} s: check that the "
                    "server is up and the URL is right."
                ) from None
            except httpx.TransportError as exc:
                raise BackendError(
                    f"Cannot reach {base_url} ({_why(exc, config)}): start the server, or check "
                    "the URL and port."
                ) from None
            models = _check(response, base_url, config)
            server = server or response.headers.get("server", "")
            kinds.append(identify(models))
            if kinds[-1] == LLAMA_CPP:
                slots.append(_slots(client, base_url, headers))
    # Server-specific settings only when every replica is the same kind of server.
    kind = kinds[0] if len(set(kinds)) == 1 else ""
    known = [s for s in slots if s is not None]
    total = sum(known) if kind == LLAMA_CPP and len(known) == len(kinds) else None
    return ServerProfile(server=server, kind=kind, slots=total)


def _slots(client: httpx.Client, base_url: str, headers: dict[str, str]) -> int | None:
    """llama-server's parallel slots; None when /props is off or unreadable (no harm done)."""
    import httpx

    try:
        response = client.get(props_url(base_url), headers=headers)
        return total_slots(response.json()) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def _why(exc: httpx.TransportError, config: EndpointConfig) -> str:
    text = config.redact(str(exc))
    if "refused" in text.lower():
        return "connection refused"
    return text or type(exc).__name__


def _check(response: httpx.Response, shown: str, config: EndpointConfig) -> object:
    """The parsed /models answer (None when it is not JSON), after the checks that stop a run."""
    status = response.status_code
    if status in (401, 403):
        if any(config.url_auth):
            fix = "check the user and password in the URL"
        elif config.key_env:
            fix = f"check the key in {config.key_env}"
        else:
            fix = "give the name of the variable holding the key, e.g. #model?key_env=MY_API_KEY"
        raise UsageError(f"{shown} refused the request (HTTP {status}): {fix}.")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        payload: object = response.json()
    except ValueError:
        payload = None
    if content_type in ("text/html", "application/xhtml+xml") or (
        200 <= status < 300 and payload is None
    ):
        raise UsageError(
            f"{shown} does not speak the OpenAI API (GET /models returned HTTP {status} "
            f"{content_type or 'without a content type'}): check the base URL, which usually "
            "ends in /v1."
        )
    return payload if 200 <= status < 300 else None
