"""Settings of the OpenAI-compatible HTTP backend, built from a ModelSpec, and its credentials.

The key is read from the environment variable the catalog names when the model is loaded, and a
user:password written in a base URL is split off into a Basic Authorization header: both are kept
in `Secret`s, whose repr hides them, the URLs kept here carry no credentials, and
`EndpointConfig.redact` masks every secret in any error text.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gapbench.backends.http_retry import RetryPolicy
from gapbench.catalog.credentials import public_url, url_credentials
from gapbench.errors import UsageError

if TYPE_CHECKING:
    from gapbench.backends.registry import BackendOptions
    from gapbench.catalog.types import ModelSpec

__all__ = ["DEFAULT_CONCURRENCY", "EndpointConfig", "Secret", "endpoint_config", "public_url"]

DEFAULT_CONCURRENCY = 16
_ERROR_SNIPPET = 300
"""Characters of a server's error message kept in a stored error."""
_MIN_MASKED = 4


class Secret:
    """A key or password that never shows itself in a repr, str, log line or error message."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself, for the request header only."""
        return self._value

    def redact(self, text: str) -> str:
        """`text` with every occurrence of the key masked."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class EndpointConfig:
    """Everything the backend needs to call one model; built from a ModelSpec by `create`."""

    model_id: str
    api_model: str
    base_urls: tuple[str, ...]
    """Without credentials; those are in url_auth."""
    chat: bool
    """Chat completions (instruct models) or text completions (base models)."""
    api_key: Secret | None = None
    key_env: str | None = None
    auth_header: str = "bearer"
    url_auth: tuple[Secret | None, ...] = ()
    """Per base URL, the Basic Authorization value built from the URL's user:password."""
    hidden: tuple[Secret, ...] = ()
    """Passwords from the URLs, masked in error text like the key."""
    concurrency: int = DEFAULT_CONCURRENCY
    concurrency_explicit: bool = False
    """The user chose the concurrency (flag or ?concurrency=): a server's advice does not change
    it."""
    timeout_s: float = 600.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stream: bool = True
    stream_explicit: bool = False
    max_tokens_field: str = "max_tokens"
    omit_params: frozenset[str] = frozenset()
    min_temperature: float | None = None
    extra_body: tuple[tuple[str, Any], ...] = ()
    server_kind: str = ""
    """The server software recognised at preflight ('' when unknown), see openai_servers.py."""
    server_notes: tuple[str, ...] = ()
    """Settings chosen for that server, each with its reason, for provenance."""

    def headers(self, replica: int = 0) -> dict[str, str]:
        """Request headers for base URL number `replica`, with the key or URL credentials."""
        headers = {"Accept": "application/json, text/event-stream"}
        basic = self.url_auth[replica] if replica < len(self.url_auth) else None
        if basic is not None:
            headers["Authorization"] = basic.reveal()
        elif self.api_key is not None:
            if self.auth_header == "api-key":
                headers["api-key"] = self.api_key.reveal()
            else:
                headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        return headers

    def redact(self, text: str) -> str:
        """`text` without the key or any URL credential, cut to a readable length."""
        for secret in (self.api_key, *self.url_auth, *self.hidden):
            if secret is not None:
                text = secret.redact(text)
        return text if len(text) <= _ERROR_SNIPPET else text[:_ERROR_SNIPPET] + "..."


def read_api_key(spec: ModelSpec) -> Secret | None:
    """The key from the variable the catalog names; UsageError naming it when it is unset."""
    api = spec.api
    if api is None or api.api_key_env is None:
        return None
    value = os.environ.get(api.api_key_env, "").strip()
    if value:
        return Secret(value)
    if api.key_optional:
        return None
    raise UsageError(
        f"Model {spec.id} needs an API key: set the environment variable {api.api_key_env} "
        f"(export {api.api_key_env}=...)."
    )


def _url_auth(urls: list[str]) -> tuple[tuple[Secret | None, ...], tuple[Secret, ...]]:
    """Basic Authorization values per URL, and the raw passwords to mask."""
    auth: list[Secret | None] = []
    hidden: list[Secret] = []
    for url in urls:
        credentials = url_credentials(url)
        if credentials is None:
            auth.append(None)
            continue
        user, password = credentials
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        auth.append(Secret(f"Basic {token}"))
        hidden.append(Secret(token))  # a server may echo the token without its scheme
        # A password of a few characters would mask every "1" of "HTTP 401"; the Basic token
        # above, which is what travels, is masked whatever its length.
        hidden += [Secret(password)] if len(password) >= _MIN_MASKED else []
    return tuple(auth), tuple(hidden)


def _provider_concurrency(spec: ModelSpec) -> int | None:
    """The provider entry's concurrency, a default the server's own advice may refine."""
    if spec.provider is None:
        return None
    from gapbench.catalog.providers import load_providers

    provider = load_providers().get(spec.provider)
    return provider.concurrency if provider is not None else None


def endpoint_config(spec: ModelSpec, options: BackendOptions) -> EndpointConfig:
    """The backend settings for `spec`: catalog values, overridden by load options."""
    api = spec.api
    if api is None:
        raise UsageError(f"Model {spec.id} has no API endpoint; it cannot use the openai backend.")
    api_key = read_api_key(spec)
    url_auth, hidden = _url_auth(api.base_urls)
    if api_key is not None and any(url_auth):
        raise UsageError(
            f"Model {spec.id} has both a user:password in its URL and an API key in "
            f"{api.api_key_env}: keep one of the two."
        )
    explicit = options.concurrency or api.concurrency
    return EndpointConfig(
        model_id=spec.id,
        api_model=api.model,
        base_urls=tuple(public_url(u).rstrip("/") for u in api.base_urls),
        chat=spec.kind == "instruct",
        api_key=api_key,
        key_env=api.api_key_env,
        auth_header=api.auth_header,
        url_auth=url_auth,
        hidden=hidden,
        concurrency=explicit or _provider_concurrency(spec) or DEFAULT_CONCURRENCY,
        concurrency_explicit=explicit is not None,
        timeout_s=api.timeout_s,
        retry=RetryPolicy(max_retries=api.max_retries, backoff_s=api.backoff_s),
        stream=api.stream is not False,
        stream_explicit=api.stream is not None,
        max_tokens_field=api.max_tokens_field,
        omit_params=frozenset(api.omit_params),
        min_temperature=api.min_temperature,
        extra_body=tuple(sorted(api.extra_body.items())),
    )


def preflight(spec: ModelSpec) -> None:
    """The API key the model needs is set (UsageError naming the variable otherwise)."""
    read_api_key(spec)
