"""Servers recognised at preflight and given their own settings (openai_servers.py), and streams a
server cuts on purpose: recognised, reported with the fix, not retried. Pure functions first,
then the client against the fault server on loopback, which plays llama-cpp-python's server and
llama-server by answering GET /models (and /props) as they do."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.backends.fault_server import FaultServer
from tests.helpers import CliInvoke

from gapbench.backends.openai_config import EndpointConfig
from gapbench.backends.openai_http import OpenAIHttpBackend
from gapbench.backends.openai_servers import (
    LLAMA_CPP,
    LLAMA_CPP_PYTHON,
    ServerProfile,
    for_server,
    identify,
)
from gapbench.backends.references import resolve_model
from gapbench.backends.registry import BackendOptions, load_backend
from gapbench.backends.types import ChatMessage, Generation, GenerationRequest, SamplingParams

# GET /v1/models as llama-cpp-python 0.3.36's server answered it (captured from the real one),
# and as llama.cpp's llama-server answers it (its documented shape).
LLAMA_CPP_PYTHON_MODELS = {
    "object": "list",
    "data": [{"id": "/models/x.gguf", "object": "model", "owned_by": "me", "permissions": []}],
}
LLAMA_SERVER_MODELS = {
    "object": "list",
    "data": [{"id": "x.gguf", "object": "model", "created": 1, "owned_by": "llamacpp"}],
}
VLLM_MODELS = {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "vllm"}]}
SAMPLING = {"min_p": 0.0, "repeat_penalty": 1.0, "top_k": 0}


def _chat(i: int) -> GenerationRequest:
    return GenerationRequest(
        request_id=f"r{i}",
        sampling=SamplingParams(max_tokens=64),
        messages=(ChatMessage("user", f"question {i}"),),
    )


def _backend(ref: str, concurrency: int | None = None) -> OpenAIHttpBackend:
    backend = load_backend(resolve_model(ref), None, BackendOptions(concurrency=concurrency))
    assert isinstance(backend, OpenAIHttpBackend)
    return backend


def _run(backend: OpenAIHttpBackend, requests: list[GenerationRequest]) -> list[Generation]:
    try:
        return list(backend.generate(requests))
    finally:
        backend.close()


# --- recognition and settings (no network) --------------------------------------------------


def test_servers_are_recognised_by_their_models_answer() -> None:
    assert identify(LLAMA_CPP_PYTHON_MODELS) == LLAMA_CPP_PYTHON
    assert identify(LLAMA_SERVER_MODELS) == LLAMA_CPP
    assert identify(VLLM_MODELS) == ""
    # 'me' alone is not enough: llama-cpp-python's server also lists empty permissions.
    assert identify({"data": [{"id": "m", "owned_by": "me"}]}) == ""
    assert identify({"data": []}) == identify(None) == identify({"data": ["x"]}) == ""


def _config(**fields: object) -> EndpointConfig:
    base = {"model_id": "m", "api_model": "m", "base_urls": ("http://h/v1",), "chat": True}
    return EndpointConfig(**{**base, **fields})  # type: ignore[arg-type]


def test_settings_for_each_server_keep_what_the_user_chose() -> None:
    plain = for_server(_config(), ServerProfile(kind=LLAMA_CPP_PYTHON))
    assert (plain.concurrency, plain.stream, dict(plain.extra_body)) == (1, False, SAMPLING)
    assert len(plain.server_notes) == 3 and "cuts a stream" in plain.server_notes[1]
    chosen = _config(
        concurrency=4,
        concurrency_explicit=True,
        stream_explicit=True,
        extra_body=(("repeat_penalty", 1.3),),
    )
    kept = for_server(chosen, ServerProfile(kind=LLAMA_CPP_PYTHON))
    assert (kept.concurrency, kept.stream) == (4, True)
    assert dict(kept.extra_body) == {**SAMPLING, "repeat_penalty": 1.3}
    two_urls = _config(base_urls=("http://a/v1", "http://b/v1"))
    two = for_server(two_urls, ServerProfile(kind=LLAMA_CPP_PYTHON))
    assert two.concurrency == 2  # one per replica
    slots = for_server(_config(), ServerProfile(kind=LLAMA_CPP, slots=4))
    assert (slots.concurrency, slots.stream, dict(slots.extra_body)) == (4, True, SAMPLING)
    other = _config()
    assert for_server(other, ServerProfile(server="nginx")) == other


# --- against the fault server (loopback) ------------------------------------------------------

network = pytest.mark.network


@network
def test_llama_cpp_python_server_gets_one_unstreamed_request_at_a_time() -> None:
    with FaultServer(owned_by="me", delay_s=0.02) as server:
        backend = _backend(f"openai:{server.url}#fake")
        config, info = backend.config, backend.info()
        generations = _run(backend, [_chat(i) for i in range(8)])
    assert (config.server_kind, config.concurrency, config.stream) == (LLAMA_CPP_PYTHON, 1, False)
    assert server.max_in_flight == 1 and len(server.log) == 8
    body = server.log[0].body
    assert "stream" not in body and {k: body[k] for k in SAMPLING} == SAMPLING
    # Unstreamed answers carry the server's usage: prompt tokens are known.
    assert all(g.error is None and g.prompt_tokens == 2 for g in generations)
    assert info.batch_size == 1 and info.extra["server_kind"] == LLAMA_CPP_PYTHON
    assert "cuts a stream" in info.extra["server_settings"]


@network
def test_what_the_user_chose_is_kept_on_a_recognised_server() -> None:
    with FaultServer(owned_by="me", delay_s=0.4) as server:
        backend = _backend(f"openai:{server.url}#fake?stream=true&body.top_k=5", concurrency=3)
        _run(backend, [_chat(i) for i in range(6)])
    assert server.max_in_flight == 3
    body = server.log[0].body
    assert body["stream"] is True and body["top_k"] == 5 and body["repeat_penalty"] == 1.0


@network
def test_llama_server_slots_set_the_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    with FaultServer(owned_by="llamacpp", props={"total_slots": 3}, delay_s=0.4) as server:
        backend = _backend(f"openai:{server.url}#fake")
        assert (backend.config.concurrency, backend.config.stream) == (3, True)
        _run(backend, [_chat(i) for i in range(9)])
    assert server.max_in_flight == 3 and server.log[0].body["stream"] is True
    assert {k: server.log[0].body[k] for k in SAMPLING} == SAMPLING
    # The catalog entry: one request in flight unless the server says how many it serves.
    with FaultServer(owned_by="llamacpp", props={"total_slots": 2}) as slots, FaultServer() as bare:
        monkeypatch.setenv("LLAMACPP_BASE_URL", slots.url)
        assert _backend("llamacpp-server/m").config.concurrency == 2
        monkeypatch.setenv("LLAMACPP_BASE_URL", bare.url)
        unknown = _backend("llamacpp-server/m").config
        assert (unknown.concurrency, dict(unknown.extra_body)) == (1, SAMPLING)


@network
def test_other_servers_are_left_alone() -> None:
    with FaultServer() as server:
        backend = _backend(f"openai:{server.url}#fake")
        config = backend.config
        _run(backend, [_chat(0)])
    assert (config.server_kind, config.concurrency, config.stream) == ("", 16, True)
    assert not any(k in server.log[0].body for k in SAMPLING)


@network
def test_a_stream_the_server_cuts_is_reported_with_the_fix_not_retried() -> None:
    with FaultServer(script=["interrupt", None]) as server:
        [generation] = _run(_backend(f"openai:{server.url}#fake?backoff=0.01"), [_chat(0)])
    assert generation.finish_reason == "error" and generation.retries == 0
    assert len(server.log) == 1  # not sent again: it would be cut again
    error = generation.error or ""
    assert "[DONE] before the answer was complete" in error and "--concurrency 1" in error
    # Recognised as llama-cpp-python's server (streaming on request), the advice names its flag.
    with FaultServer(script=["interrupt"], owned_by="me") as server:
        [generation] = _run(_backend(f"openai:{server.url}#fake?stream=true"), [_chat(0)])
    assert "--interrupt_requests False" in (generation.error or "")


@network
def test_a_connection_dropped_after_a_finished_stream_keeps_the_answer() -> None:
    with FaultServer(script=["finish-then-abort"]) as server:
        [generation] = _run(_backend(f"openai:{server.url}#fake"), [_chat(0)])
    assert generation.error is None and generation.retries == 0 and len(server.log) == 1
    assert generation.text == "The answer is 42. Answer: 42"


@network
def test_run_provenance_names_the_server_settings(cli: CliInvoke, db: Path) -> None:
    with FaultServer(owned_by="me") as server:
        ref = f"openai:{server.url}#fake"
        result = cli("run", "--model", ref, "--task", "arith", "--n", "3", "--db", str(db))
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        [(sampling, batch_size)] = conn.execute("SELECT sampling, batch_size FROM runs").fetchall()
    server_settings = json.loads(sampling)["server"]
    assert batch_size == 1 and server_settings["server_kind"] == LLAMA_CPP_PYTHON
    assert json.loads(server_settings["extra_body"]) == SAMPLING
    assert "not streamed" in server_settings["server_settings"]
