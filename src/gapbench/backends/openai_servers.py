"""Inference servers that need settings of their own: recognised at preflight from their answer
to GET /models (and GET /props), then given the settings that make them behave as gapbench
expects. A setting the user chose (--concurrency, ?concurrency=, ?stream=, ?body.FIELD=) is kept.

llama-cpp-python's server (`python -m llama_cpp.server`), which lists its models as owned by "me":
  - decodes one request at a time, and with its default `interrupt_requests=True` cuts a running
    stream as soon as another request waits (it sends [DONE] without a finish_reason and drops
    the connection): so one request in flight per replica;
  - sends no token usage in streams (it has no stream_options): so answers are not streamed, and
    prompt and completion tokens are the server's own counts (time to first token is then not
    measured);
  - samples with repeat_penalty 1.1, top_k 40 and min_p 0.05 unless told otherwise, even at
    temperature 0.
llama.cpp's own `llama-server`, which lists its models as owned by "llamacpp": serves
`total_slots` requests in parallel (GET /props) and queues the rest without cutting them; its
sampling defaults are llama.cpp's (top_k 40, min_p 0.05).

Both are sent the in-process engine's sampling settings (backends/llamacpp.py): no repeat
penalty, no top-k, no min-p; so greedy decoding picks the same tokens as `--model FILE.gguf`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gapbench.backends.openai_config import EndpointConfig

LLAMA_CPP_PYTHON = "llama-cpp-python"
LLAMA_CPP = "llama.cpp"

LLAMA_CPP_SAMPLING: tuple[tuple[str, float | int], ...] = (
    ("min_p", 0.0),
    ("repeat_penalty", 1.0),
    ("top_k", 0),
)
"""Request fields that switch off llama.cpp's default filters and penalty (0 disables top-k)."""


@dataclass(frozen=True)
class ServerProfile:
    """What preflight learnt about the servers behind a model's base URLs."""

    server: str = ""
    """The first Server header seen, for provenance."""
    kind: str = ""
    """LLAMA_CPP_PYTHON, LLAMA_CPP, or '' for any other (or an unrecognised) server."""
    slots: int | None = None
    """Requests the servers decode in parallel, summed over replicas, when they say."""


def identify(models: object) -> str:
    """The server kind from its GET /models answer ('' when not recognised)."""
    data = models.get("data") if isinstance(models, dict) else None
    if not isinstance(data, list) or not data or not all(isinstance(m, dict) for m in data):
        return ""
    owners = {m.get("owned_by") for m in data}
    if owners == {"me"} and all("permissions" in m for m in data):
        return LLAMA_CPP_PYTHON
    if owners == {"llamacpp"}:
        return LLAMA_CPP
    return ""


def props_url(base_url: str) -> str:
    """llama-server's /props sits at the root, beside /v1."""
    return base_url.removesuffix("/v1") + "/props"


def total_slots(props: object) -> int | None:
    slots = props.get("total_slots") if isinstance(props, dict) else None
    return slots if isinstance(slots, int) and not isinstance(slots, bool) and slots > 0 else None


def for_server(config: EndpointConfig, profile: ServerProfile) -> EndpointConfig:
    """`config` with the settings `profile`'s server needs, each noted with its reason."""
    if not profile.kind:
        return config
    notes = []
    body = dict(config.extra_body)
    added = {k: v for k, v in LLAMA_CPP_SAMPLING if k not in body}
    if added:
        body.update(added)
        fields = ", ".join(f"{k}={v}" for k, v in added.items())
        notes.append(
            f"sent {fields}: the in-process llama.cpp engine's sampling, so greedy answers "
            "match it (the server's defaults apply even at temperature 0)"
        )
    concurrency, stream = config.concurrency, config.stream
    replicas = len(config.base_urls)
    if profile.kind == LLAMA_CPP_PYTHON:
        if not config.concurrency_explicit:
            concurrency = replicas
            notes.append(
                f"concurrency {replicas}: one request per llama-cpp-python server, which decodes "
                "one at a time and by default cuts a stream when another request waits"
            )
        if not config.stream_explicit and stream:
            stream = False
            notes.append(
                "not streamed: llama-cpp-python's server reports token usage only for "
                "unstreamed answers (time to first token is not measured)"
            )
    elif profile.kind == LLAMA_CPP and profile.slots and not config.concurrency_explicit:
        concurrency = profile.slots
        notes.append(f"concurrency {concurrency}: the servers' parallel slots (GET /props)")
    return replace(
        config,
        extra_body=tuple(sorted(body.items())),
        concurrency=concurrency,
        stream=stream,
        server_kind=profile.kind,
        server_notes=tuple(notes),
    )


def cut_stream_advice(kind: str) -> str:
    """The stored error of a stream the server ended before the answer was complete."""
    if kind == LLAMA_CPP_PYTHON:
        return (
            "llama-cpp-python's server cut this stream to serve another waiting request (its "
            "default interrupt_requests): run with --concurrency 1 or ?stream=false, or start "
            "the server with --interrupt_requests False"
        )
    return (
        "the server ended the stream with [DONE] before the answer was complete (no "
        "finish_reason), as llama-cpp-python's server does when another request waits: run "
        "with --concurrency 1 or ?stream=false"
    )
