"""API models: the provider catalog (providers.toml) and ad-hoc `openai:` endpoints.

What users type:

    deepseek/deepseek-chat                          a provider's listed model
    vllm/Qwen/Qwen2.5-7B-Instruct                   any model on a generic server entry
    openai:http://127.0.0.1:8000/v1#my-model        any endpoint, no catalog entry
    openai:http://a:8000/v1,http://b:8000/v1#m      two replicas of one model
    openai:http://user:pass@host/v1#m               Basic auth: sent, but kept out of the id,
                                                    the stored command and every message

Options follow the model name after '?', joined by '&':

    kind=base           a base model: text completions (/completions) with few-shot prompts;
                        the default is an instruct model (chat completions)
    key_env=VAR         environment variable holding the API key (ad-hoc endpoints need none
                        by default; provider entries name theirs)
    concurrency=N       requests in flight (default 16)
    timeout=S           per-attempt limit in seconds (default 600)
    retries=N           retries after the first attempt (default 5)
    backoff=S           scale of the exponential backoff (default 1)
    stream=false        do not stream (no time to first token)
    preflight=false     skip the GET /models check at load
    body.FIELD=VALUE    an extra request field, e.g. body.repeat_penalty=1.0 (part of the id)
    name=ID             the id results are stored under (default: the reference itself)

Only kind and body.* change what the model generates, so only they are part of the default id:
changing the timeout or the replicas does not start a new model's results.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import tomllib
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gapbench.catalog.credentials import public_url, strip_credentials
from gapbench.catalog.types import ApiEndpoint, ApiPrice, ModelKind, ModelSpec
from gapbench.errors import UsageError, closest

OPENAI_PREFIX = "openai:"
KeyStatus = Literal["set", "missing", "optional", "n/a"]

_OPTION_FIELDS = {
    "concurrency": ("concurrency", int),
    "timeout": ("timeout_s", float),
    "retries": ("max_retries", int),
    "backoff": ("backoff_s", float),
    "stream": ("stream", "bool"),
    "preflight": ("preflight", "bool"),
    "key_env": ("api_key_env", str),
}


class ProviderModel(BaseModel):
    """A model a provider lists, with its published price when verified."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """The API's model name; the catalog id is 'provider/id'."""
    display_name: str
    family: str
    kind: ModelKind = "instruct"
    reasoning: bool = False
    """A reasoning model: expect reasoning_content or <think> blocks and reasoning tokens."""
    context_length: int = 0
    params: int = 0
    """Parameter count when published (0: not disclosed)."""
    license: str = "proprietary"
    price_input_per_mtok: float | None = None
    price_output_per_mtok: float | None = None
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    omit_params: list[str] = Field(default_factory=list)
    min_temperature: float | None = None


class Provider(BaseModel):
    """One provider or generic server entry of providers.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    display_name: str
    organisation: str
    origin: str
    base_urls: list[str]
    base_url_env: str | None = None
    """Variable that overrides base_urls (comma-separated for replicas)."""
    api_key_env: str | None = None
    key_optional: bool = False
    auth_header: Literal["bearer", "api-key"] = "bearer"
    any_model: bool = False
    """A generic server: any model name is accepted after 'provider/'."""
    docs: str | None = None
    price_currency: str = "USD"
    price_date: dt.date | None = None
    """When the prices below were read (or took effect, as the source says)."""
    price_source: str | None = None
    genai_prices_provider: str | None = None
    """genai-prices' id for this provider, used when the base URL matches none of its patterns
    (a proxy set in base_url_env); perf/prices.py."""
    extra_body: dict[str, str | int | float | bool] = Field(default_factory=dict)
    min_temperature: float | None = None
    concurrency: int | None = Field(default=None, ge=1)
    """Requests in flight when the user does not say (the reason belongs in a comment beside
    it); what the server reports at preflight may refine it (openai_servers.for_server)."""
    models: list[ProviderModel] = Field(default_factory=list)


@functools.cache
def load_providers() -> dict[str, Provider]:
    """All providers by id, in file order (read once per process)."""
    text = resources.files("gapbench.catalog").joinpath("providers.toml").read_text("utf-8")
    providers: dict[str, Provider] = {}
    for entry in tomllib.loads(text).get("providers", []):
        provider = Provider.model_validate(entry)
        if provider.id in providers:
            raise ValueError(f"providers.toml lists the provider {provider.id!r} twice")
        providers[provider.id] = provider
    return providers


def provider_model_ids() -> list[str]:
    """'provider/model' for every listed model, for suggestions."""
    return [f"{p.id}/{m.id}" for p in load_providers().values() for m in p.models]


def list_provider_models() -> list[ModelSpec]:
    """Every listed API model, plus one 'provider/<model>' row per generic server, for display."""
    specs = []
    for provider in load_providers().values():
        for model in provider.models:
            specs.append(_spec(provider, model, {}, check_urls=False))
        if provider.any_model:
            placeholder = ProviderModel(
                id="<model>", display_name="any served model", family="-", license="unknown"
            )
            specs.append(_spec(provider, placeholder, {}, check_urls=False))
    return specs


def key_status(spec: ModelSpec) -> KeyStatus:
    """Whether the API key a model needs is in the environment ('n/a' for keyless models)."""
    if spec.api is None or spec.api.api_key_env is None:
        return "n/a"
    if os.environ.get(spec.api.api_key_env, "").strip():
        return "set"
    return "optional" if spec.api.key_optional else "missing"


def provider_spec(ref: str) -> ModelSpec | None:
    """The spec for 'provider/model[?options]', or None when `ref` names no provider."""
    head, slash, rest = ref.partition("/")
    providers = load_providers()
    if not slash or head not in providers:
        return None
    provider = providers[head]
    name, _, query = rest.partition("?")
    options = _parse_options(query, ref)
    listed = {m.id: m for m in provider.models}
    model = listed.get(name)
    if model is None:
        if not name or not provider.any_model:
            known = [f"{provider.id}/{m}" for m in listed]
            raise UsageError(
                f"Provider {provider.id} has no model {name!r}; known: {', '.join(known)}."
                + closest(ref, known)
            )
        model = ProviderModel(id=name, display_name=name, family="unknown", license="unknown")
    return _spec(provider, model, options, check_urls=True)


def _spec(
    provider: Provider, model: ProviderModel, options: dict[str, str], *, check_urls: bool
) -> ModelSpec:
    urls = provider.base_urls
    env_urls = os.environ.get(provider.base_url_env, "") if provider.base_url_env else ""
    if env_urls.strip():
        urls = _split_urls(env_urls, f"${provider.base_url_env}")
    if check_urls and any("{" in u for u in urls):
        raise UsageError(
            f"Provider {provider.id} needs your endpoint: set {provider.base_url_env} "
            f"(e.g. {urls[0]})."
        )
    api: dict[str, Any] = {
        "base_urls": urls,
        "model": model.id,
        "api_key_env": provider.api_key_env,
        "key_optional": provider.key_optional,
        "auth_header": provider.auth_header,
        "max_tokens_field": model.max_tokens_field,
        "omit_params": model.omit_params,
        "min_temperature": model.min_temperature or provider.min_temperature,
        "extra_body": dict(provider.extra_body),
    }
    kind = _apply_options(api, options, model.kind, f"{provider.id}/{model.id}")
    has_price = model.price_input_per_mtok is not None or model.price_output_per_mtok is not None
    price = (
        ApiPrice(
            input_per_mtok=model.price_input_per_mtok,
            output_per_mtok=model.price_output_per_mtok,
            currency=provider.price_currency,
            date=provider.price_date,
            source=provider.price_source,
        )
        if has_price
        else None
    )
    return _model_spec(
        _identity(f"{provider.id}/{model.id}", kind, api, options),
        display_name=model.display_name,
        family=model.family,
        organisation=provider.organisation,
        origin=provider.origin,
        kind=kind,
        api=api,
        provider=provider.id,
        params=model.params,
        license=model.license,
        context_length=model.context_length,
        price=price,
    )


def openai_spec(ref: str) -> ModelSpec:
    """The spec for 'openai:URL[,URL...]#model[?options]' (any OpenAI-compatible endpoint)."""
    body = ref[len(OPENAI_PREFIX) :]
    shown = strip_credentials(ref)  # what messages may print
    urls_part, hash_sign, model_part = body.partition("#")
    model, _, query = model_part.partition("?")
    if not hash_sign or not model.strip() or "?" in urls_part:
        raise UsageError(
            f"Bad API model {shown!r}: write openai:http://HOST:PORT/v1#MODEL-NAME "
            "(options after the model name, e.g. #MODEL?kind=base)."
        )
    urls = _split_urls(urls_part, shown)
    options = _parse_options(query, shown)
    api: dict[str, Any] = {"base_urls": urls, "model": model.strip()}
    kind = _apply_options(api, options, "instruct", shown)
    # The id names the endpoint without its credentials: it is stored with every sample and
    # shown in every table. The backend still sends them (openai_config).
    base = f"{OPENAI_PREFIX}{','.join(public_url(u) for u in urls)}#{api['model']}"
    return _model_spec(
        _identity(base, kind, api, options),
        display_name=api["model"],
        family="unknown",
        organisation="unknown",
        origin="unknown",
        kind=kind,
        api=api,
        provider=None,
    )


def _split_urls(text: str, where: str) -> list[str]:
    urls = [u.strip().rstrip("/") for u in text.split(",") if u.strip()]
    for url in urls:
        parts = urlsplit(url)
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # a port that is not a number
            port_ok = False
        if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            raise UsageError(
                f"Bad base URL {strip_credentials(url)!r} in {where}: write it as "
                "http(s)://HOST[:PORT]/PATH, e.g. http://127.0.0.1:8000/v1."
            )
    if not urls:
        raise UsageError(f"No base URL in {where}: write e.g. openai:http://127.0.0.1:8000/v1#m.")
    return urls


def _parse_options(query: str, ref: str) -> dict[str, str]:
    if not query:
        return {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise UsageError(
            f"Bad options in {ref!r}: write key=value pairs joined by '&' after the model name."
        ) from None
    known = ["kind", "name", *_OPTION_FIELDS]
    for key, _ in pairs:
        if key not in known and not key.startswith("body."):
            raise UsageError(
                f"Unknown option {key!r} in {ref!r}; use {', '.join(known)} or body.FIELD."
                + closest(key, known)
            )
    return dict(pairs)


def _apply_options(api: dict[str, Any], options: dict[str, str], kind: str, ref: str) -> ModelKind:
    """Write the options into the ApiEndpoint fields; returns the model kind."""
    for key, value in options.items():
        if key in _OPTION_FIELDS:
            field, cast = _OPTION_FIELDS[key]
            api[field] = _convert(value, cast, key, ref)
        elif key.startswith("body."):
            api.setdefault("extra_body", {})[key[5:]] = _json_scalar(value)
    chosen = options.get("kind", kind)
    if chosen not in ("base", "instruct"):
        raise UsageError(f"kind in {ref!r} must be base or instruct (got {chosen!r}).")
    return "base" if chosen == "base" else "instruct"


def _convert(value: str, cast: object, key: str, ref: str) -> object:
    if cast == "bool":
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise UsageError(f"Option {key} in {ref!r} must be true or false (got {value!r}).")
    try:
        return cast(value)  # type: ignore[operator]  # int, float or str
    except ValueError:
        raise UsageError(f"Option {key} in {ref!r} must be a number (got {value!r}).") from None


def _json_scalar(value: str) -> str | int | float | bool:
    """'1.0' -> 1.0, 'true' -> True, anything else stays text."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, str | int | float | bool) else value


def _identity(base: str, kind: ModelKind, api: dict[str, Any], options: dict[str, str]) -> str:
    """The stored id: explicit name=, else the reference with only output-changing options."""
    if options.get("name"):
        return options["name"]
    parts = [("kind", "base")] if kind == "base" else []
    parts += sorted((k, v) for k, v in options.items() if k.startswith("body."))
    return base + ("?" + urlencode(parts) if parts else "")


def _model_spec(model_id: str, *, api: dict[str, Any], **fields: Any) -> ModelSpec:
    try:
        endpoint = ApiEndpoint.model_validate(api)
        fields.setdefault("params", 0)
        fields.setdefault("license", "unknown")
        fields.setdefault("context_length", 0)
        return ModelSpec(
            id=model_id,
            quantization="n/a (API)",
            backend="openai",
            api=endpoint,
            **fields,
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise UsageError(f"Bad setting {where} for {model_id}: {problem['msg']}.") from None
