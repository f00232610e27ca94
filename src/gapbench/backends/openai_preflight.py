"""A cheap check, before any sample runs, that each endpoint is up and speaks the OpenAI API.

`GET {base_url}/models` is answered by every OpenAI-compatible server we know (and costs nothing
on hosted APIs). Only clear failures stop the run: no connection, a rejected key, or an answer
that is not the API (an HTML page). Other statuses pass, because some providers do not serve
/models at all; their requests then fail, or not, on their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gapbench.errors import BackendError, UsageError

if TYPE_CHECKING:
    import httpx

    from gapbench.backends.openai_config import EndpointConfig

PREFLIGHT_TIMEOUT_S = 10.0


def preflight(config: EndpointConfig) -> str:
    """Check every base URL of `config`; returns the first Server header seen ('' if none).

    Raises BackendError (exit 1) when an endpoint cannot be reached, and UsageError (exit 2)
    when it rejects the key or is not an OpenAI-compatible API.
    """
    import httpx

    from gapbench.backends.openai_config import public_url

    server = ""
    timeout = httpx.Timeout(PREFLIGHT_TIMEOUT_S, connect=min(5.0, PREFLIGHT_TIMEOUT_S))
    with httpx.Client(timeout=timeout, headers=config.headers()) as client:
        for base_url in config.base_urls:
            shown = public_url(base_url)
            try:
                response = client.get(base_url + "/models")
            except httpx.TimeoutException:
                raise BackendError(
                    f"{shown} did not answer within {PREFLIGHT_TIMEOUT_S:g} s: check that the "
                    "server is up and the URL is right."
                ) from None
            except httpx.TransportError as exc:
                raise BackendError(
                    f"Cannot reach {shown} ({_why(exc, config)}): start the server, or check "
                    "the URL and port."
                ) from None
            _check(response, shown, config)
            server = server or response.headers.get("server", "")
    return server


def _why(exc: httpx.TransportError, config: EndpointConfig) -> str:
    text = config.redact(str(exc))
    if "refused" in text.lower():
        return "connection refused"
    return text or type(exc).__name__


def _check(response: httpx.Response, shown: str, config: EndpointConfig) -> None:
    status = response.status_code
    if status in (401, 403):
        if config.key_env:
            fix = f"check the key in {config.key_env}"
        else:
            fix = "give the name of the variable holding the key, e.g. #model?key_env=MY_API_KEY"
        raise UsageError(f"{shown} refused the request (HTTP {status}): {fix}.")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("text/html", "application/xhtml+xml") or (
        200 <= status < 300 and not _is_json(response)
    ):
        raise UsageError(
            f"{shown} does not speak the OpenAI API (GET /models returned HTTP {status} "
            f"{content_type or 'without a content type'}): check the base URL, which usually "
            "ends in /v1."
        )


def _is_json(response: httpx.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True
