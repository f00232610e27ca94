"""The HTTP backend against a real OpenAI-compatible server: llama-cpp-python's own
(`python -m llama_cpp.server`, extra `server`) serving the pulled SmolLM2 on a free loopback port.

Checks chat, text completions, streaming timings and usage, and that greedy answers match the
in-process llama.cpp backend on the same file (the server is told repeat_penalty=1.0: its default
of 1.1 applies even at temperature 0).
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import CliInvoke

from gapbench.backends.openai_http import OpenAIHttpBackend
from gapbench.backends.registry import BackendOptions, load_backend
from gapbench.backends.types import ChatMessage, Generation, GenerationRequest, SamplingParams
from gapbench.catalog.loader import resolve_model

pytestmark = [pytest.mark.network, pytest.mark.slow]

SERVER_PACKAGES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
GREEDY = "?body.repeat_penalty=1.0"
PROMPTS = [
    "What is 12 + 30? Reply with the number only.",
    "Name the capital of France.",
    "Write one sentence about the sea.",
    "List three colours.",
]
THREADS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(smollm2_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the server, wait until it answers, and always stop it."""
    import httpx

    for package in SERVER_PACKAGES:
        pytest.importorskip(package, reason="needs llama-cpp-python[server]")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_file),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--n_threads", str(THREADS), "--n_threads_batch", str(THREADS), "--verbose", "false",
    ]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready in 180 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _requests(max_tokens: int = 32) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            request_id=str(i),
            sampling=SamplingParams(max_tokens=max_tokens),
            messages=(ChatMessage("user", prompt),),
        )
        for i, prompt in enumerate(PROMPTS)
    ]


def _http(ref: str, requests: list[GenerationRequest]) -> dict[str, Generation]:
    backend = load_backend(resolve_model(ref), None, BackendOptions(concurrency=1))
    assert isinstance(backend, OpenAIHttpBackend)
    try:
        return {g.request_id: g for g in backend.generate(requests)}
    finally:
        backend.close()


@pytest.fixture(scope="module")
def local_answers(smollm2_file: Path) -> dict[str, Generation]:
    """The in-process llama.cpp backend's greedy answers on the same file."""
    from gapbench.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(smollm2_file, chat=True, context_per_sequence=2048, threads=THREADS)
    try:
        return {g.request_id: g for g in backend.generate(_requests())}
    finally:
        backend.close()


def test_chat_plain_reports_usage_and_matches_local_backend(
    server_url: str, local_answers: dict[str, Generation]
) -> None:
    answers = _http(f"openai:{server_url}#smollm2{GREEDY}&stream=false", _requests())
    mismatches = []
    for rid, local in local_answers.items():
        remote = answers[rid]
        assert remote.error is None, remote.error
        assert remote.text.strip(), rid
        # Same GGUF chat template, same tokenizer: the same prompt length.
        assert remote.prompt_tokens == local.prompt_tokens
        assert 0 < remote.completion_tokens <= 32
        assert remote.timing.ttft_s is None  # not streamed: no first-token time
        if remote.text.strip() != local.text.strip():
            mismatches.append((PROMPTS[int(rid)], local.text, remote.text))
    assert not mismatches, mismatches


def test_streaming_gives_timings_and_the_same_greedy_text(
    server_url: str, local_answers: dict[str, Generation]
) -> None:
    answers = _http(f"openai:{server_url}#smollm2{GREEDY}", _requests())
    for rid, local in local_answers.items():
        remote = answers[rid]
        assert remote.error is None, remote.error
        ttft = remote.timing.ttft_s
        assert ttft is not None and 0 < ttft < remote.timing.latency_s
        # llama-cpp-python's server sends no usage in streams: tokens are counted by chunk.
        assert 0 < remote.completion_tokens <= 32
        assert remote.text.strip() == local.text.strip()


def test_text_completions_for_a_base_style_prompt(server_url: str) -> None:
    request = GenerationRequest(
        request_id="c",
        sampling=SamplingParams(max_tokens=8, stop=("\n",)),
        prompt="The capital of France is",
    )
    [generation] = _http(
        f"openai:{server_url}#smollm2?kind=base&body.repeat_penalty=1.0", [request]
    ).values()
    assert generation.error is None and generation.text.strip()
    assert "\n" not in generation.text and generation.completion_tokens <= 8


def test_cli_run_through_the_server(server_url: str, cli: CliInvoke, db: Path) -> None:
    ref = f"openai:{server_url}#smollm2{GREEDY}"
    args = ["run", "--model", ref, "--task", "arith", "--n", "3", "--max-tokens", "32"]
    result = cli(*args, "--db", str(db))
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT error, ttft_s, completion_tokens FROM samples").fetchall()
        runs = conn.execute("SELECT status, backend, engine_version FROM runs").fetchall()
    assert len(rows) == 3 and all(e is None and t is not None and c > 0 for e, t, c in rows)
    assert runs[0][:2] == ("completed", "openai") and "aiohttp" in runs[0][2]
