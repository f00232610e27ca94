"""Settings of the OpenAI-compatible HTTP backend, built from a ModelSpec, and the API key.

The key is read from the environment variable the catalog names when the model is loaded and
kept in a `Secret`, whose repr hides it; `EndpointConfig.redact` masks it in any error text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gapbench.backends.http_retry import RetryPolicy
from gapbench.errors import UsageError

if TYPE_CHECKING:
    from gapbench.backends.registry import BackendOptions
    from gapbench.catalog.types import ModelSpec

DEFAULT_CONCURRENCY = 16
_ERROR_SNIPPET = 300
"""Characters of a server's error message kept in a stored error."""


class Secret:
    """An API key that never shows itself in a repr, str, log line or error message."""

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
    chat: bool
    """Chat completions (instruct models) or text completions (base models)."""
    api_key: Secret | None = None
    key_env: str | None = None
    auth_header: str = "bearer"
    concurrency: int = DEFAULT_CONCURRENCY
    timeout_s: float = 600.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stream: bool = True
    max_tokens_field: str = "max_tokens"
    omit_params: frozenset[str] = frozenset()
    min_temperature: float | None = None
    extra_body: tuple[tuple[str, Any], ...] = ()

    def headers(self) -> dict[str, str]:
        """Request headers, with the key when there is one."""
        headers = {"Accept": "application/json, text/event-stream"}
        if self.api_key is not None:
            if self.auth_header == "api-key":
                headers["api-key"] = self.api_key.reveal()
            else:
                headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        return headers

    def redact(self, text: str) -> str:
        """`text` without the key, cut to a readable length."""
        text = self.api_key.redact(text) if self.api_key else text
        return text if len(text) <= _ERROR_SNIPPET else text[:_ERROR_SNIPPET] + "..."


def public_url(url: str) -> str:
    """A URL without user:password, for provenance and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


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


def endpoint_config(spec: ModelSpec, options: BackendOptions) -> EndpointConfig:
    """The backend settings for `spec`: catalog values, overridden by load options."""
    api = spec.api
    if api is None:
        raise UsageError(f"Model {spec.id} has no API endpoint; it cannot use the openai backend.")
    return EndpointConfig(
        model_id=spec.id,
        api_model=api.model,
        base_urls=tuple(u.rstrip("/") for u in api.base_urls),
        chat=spec.kind == "instruct",
        api_key=read_api_key(spec),
        key_env=api.api_key_env,
        auth_header=api.auth_header,
        concurrency=options.concurrency or api.concurrency or DEFAULT_CONCURRENCY,
        timeout_s=api.timeout_s,
        retry=RetryPolicy(max_retries=api.max_retries, backoff_s=api.backoff_s),
        stream=api.stream,
        max_tokens_field=api.max_tokens_field,
        omit_params=frozenset(api.omit_params),
        min_temperature=api.min_temperature,
        extra_body=tuple(sorted(api.extra_body.items())),
    )
