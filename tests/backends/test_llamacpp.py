"""The llama.cpp backend against a real small model (SmolLM2-135M-Instruct, ~100 MB)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gapbench.backends.types import (
    ChatMessage,
    Generation,
    GenerationRequest,
    SamplingParams,
)
from gapbench.errors import ModelFileError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_path(smollm2_file: Path) -> Path:
    return smollm2_file


# One thread: with llama.cpp's OpenMP spin-waiting, two threads on this 2-core machine run ~100
# tok/s when idle but collapse to a few tok/s when other processes compete; one stays near 60.
@pytest.fixture(scope="module")
def backend(model_path: Path) -> Iterator[object]:
    from gapbench.backends.llamacpp import LlamaCppBackend

    b = LlamaCppBackend(model_path, chat=True, context_per_sequence=512, threads=1)
    yield b
    b.close()


def chat(request_id: str, text: str, **sampling: object) -> GenerationRequest:
    return GenerationRequest(
        request_id=request_id,
        sampling=SamplingParams(**sampling),  # type: ignore[arg-type]
        messages=(ChatMessage("user", text),),
    )


def run(backend: object, *requests: GenerationRequest) -> list[Generation]:
    from gapbench.backends.llamacpp import LlamaCppBackend

    assert isinstance(backend, LlamaCppBackend)
    return list(backend.generate(list(requests)))


def test_chat_generation_counts_and_timing(backend: object) -> None:
    [g] = run(backend, chat("q1", "What is the capital of France?", max_tokens=24))
    assert g.request_id == "q1"
    assert g.error is None
    assert g.text.strip()
    assert g.prompt_tokens > 0
    assert 0 < g.completion_tokens <= 24
    assert g.finish_reason in ("stop", "length")
    assert g.timing.first_token is not None
    assert g.timing.start <= g.timing.first_token <= g.timing.end
    assert g.timing.ttft_s is not None and g.timing.ttft_s <= g.timing.latency_s


def test_matches_llama_cpp_python_chat_completion(backend: object) -> None:
    """Independent reference: llama-cpp-python's own chat path, with its usage counts."""
    from gapbench.backends.llamacpp import LlamaCppBackend

    assert isinstance(backend, LlamaCppBackend)
    question = "Name three colours."
    [g] = run(backend, chat("ref", question, max_tokens=16))
    llama = backend._llama
    llama.reset()
    ref = llama.create_chat_completion(
        messages=[{"role": "user", "content": question}], max_tokens=16, temperature=0.0
    )
    assert g.prompt_tokens == ref["usage"]["prompt_tokens"]
    assert g.text == ref["choices"][0]["message"]["content"]
    assert g.finish_reason == ref["choices"][0]["finish_reason"]


def test_max_tokens_gives_length(backend: object) -> None:
    [g] = run(backend, chat("short", "Tell me a long story about a cat.", max_tokens=4))
    assert g.finish_reason == "length"
    assert g.completion_tokens == 4
    assert g.text


def test_greedy_is_reproducible_whatever_ran_before(backend: object) -> None:
    a = chat("a", "Count from one to five.", max_tokens=20)
    b = chat("b", "Count from one to five, please.", max_tokens=20)
    first = {g.request_id: g.text for g in run(backend, a, b)}
    second = {g.request_id: g.text for g in run(backend, b, a)}
    assert first == second


def test_stop_string_cuts_text(backend: object) -> None:
    [free] = run(backend, chat("free", "Write a story about a dragon.", max_tokens=40))
    words = free.text.split()
    assert len(words) > 4
    stop = words[3]
    [cut] = run(backend, chat("cut", "Write a story about a dragon.", max_tokens=40, stop=(stop,)))
    assert cut.finish_reason == "stop"
    assert stop not in cut.text
    assert free.text.startswith(cut.text)
    assert cut.completion_tokens < free.completion_tokens


def test_too_long_prompt_errors_and_run_goes_on(backend: object) -> None:
    too_long = chat("long", "word " * 2000, max_tokens=8)
    fine = chat("fine", "Say hello.", max_tokens=8)
    results = run(backend, too_long, fine)
    assert [g.request_id for g in results] == ["long", "fine"]
    err, ok = results
    assert err.finish_reason == "error"
    assert err.error is not None and "prompt longer than context" in err.error
    assert err.prompt_tokens > 512
    assert ok.finish_reason in ("stop", "length") and ok.text


def test_completion_path_for_base_models(model_path: Path) -> None:
    from gapbench.backends.llamacpp import LlamaCppBackend

    b = LlamaCppBackend(model_path, chat=False, context_per_sequence=256, threads=1)
    try:
        req = GenerationRequest(
            request_id="p", sampling=SamplingParams(max_tokens=8), prompt="The capital of France is"
        )
        [g] = list(b.generate([req]))
        # Plain tokenisation of the prompt, with no chat wrapping around it.
        assert g.prompt_tokens == len(b._llama.tokenize(b"The capital of France is"))
        assert g.completion_tokens <= 8 and g.finish_reason != "error"
    finally:
        b.close()


def test_info(backend: object) -> None:
    from gapbench.backends.llamacpp import LlamaCppBackend

    assert isinstance(backend, LlamaCppBackend)
    info = backend.info()
    import llama_cpp

    assert info.backend == "llamacpp"
    assert info.engine_version == f"llama-cpp-python {llama_cpp.__version__}"
    assert info.threads == 1 and info.batch_size == 1
    assert "physical cores" in info.device


def test_truncated_file_is_a_model_file_error(model_path: Path, tmp_path: Path) -> None:
    from gapbench.backends.llamacpp import LlamaCppBackend

    truncated = tmp_path / "truncated.gguf"
    with model_path.open("rb") as src:
        truncated.write_bytes(src.read(model_path.stat().st_size // 2))
    with pytest.raises(ModelFileError):
        LlamaCppBackend(truncated, chat=True, context_per_sequence=256, threads=1)


def test_file_llama_cpp_refuses_is_a_model_file_error(model_path: Path, tmp_path: Path) -> None:
    """A complete file with an unknown architecture passes the header check; llama.cpp refuses it.
    Loaded in a child process so an engine abort would fail this test instead of the session."""
    data = bytearray(model_path.read_bytes())
    key = b"general.architecture"
    at = data.index(key) + len(key) + 4 + 8  # skip the value type (u32) and string length (u64)
    assert data[at : at + 5] == b"llama"
    data[at : at + 5] = b"zzzzz"
    bad = tmp_path / "unknown-arch.gguf"
    bad.write_bytes(bytes(data))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gapbench.backends.llamacpp import LlamaCppBackend\n"
        "from gapbench.errors import ModelFileError\n"
        "try:\n"
        "    LlamaCppBackend(Path(sys.argv[1]), chat=True, context_per_sequence=256, threads=1,"
        " model_id='smollm2-135m-instruct')\n"
        "except ModelFileError as exc:\n"
        "    print('MODELFILEERROR', exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(bad)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "MODELFILEERROR" in proc.stdout
    assert "gapbench models pull smollm2-135m-instruct" in proc.stdout
    assert proc.stderr == ""  # llama.cpp's own log lines are silenced
