"""The OpenAI-compatible HTTP backend: retry policy, SSE parsing, model references and the provider
catalog (pure), then the client against the fault-injecting server on loopback (network)."""

from __future__ import annotations

import email.utils
import json
import random
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.backends.fault_server import FAULTS, FaultServer, prompt_of
from tests.helpers import CliInvoke

from gapbench.backends.http_retry import AttemptFailed, RetryPolicy, parse_retry_after
from gapbench.backends.openai_http import OpenAIHttpBackend, _Replicas
from gapbench.backends.references import resolve_model
from gapbench.backends.registry import BackendOptions, load_backend
from gapbench.backends.sse import Answer, SseDecoder
from gapbench.backends.types import ChatMessage, Generation, GenerationRequest, SamplingParams
from gapbench.catalog.providers import key_status, list_provider_models, load_providers
from gapbench.errors import BackendError, UsageError
from gapbench.runner import split_reasoning

SECRET = "sk-test-NEVER-STORE-7f3a9c"


def _chat(i: int, max_tokens: int = 64) -> GenerationRequest:
    return GenerationRequest(
        request_id=f"r{i}",
        sampling=SamplingParams(max_tokens=max_tokens),
        messages=(ChatMessage("user", f"question {i}"),),
    )


def _backend(url: str, options: str = "", **load: int) -> OpenAIHttpBackend:
    spec = resolve_model(f"openai:{url}#fake?backoff=0.01" + (f"&{options}" if options else ""))
    backend = load_backend(spec, None, BackendOptions(**load))
    assert isinstance(backend, OpenAIHttpBackend)
    return backend


def _run(backend: OpenAIHttpBackend, requests: list[GenerationRequest]) -> list[Generation]:
    try:
        return list(backend.generate(requests))
    finally:
        backend.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- retry policy and parsing (no network) ----------------------------------------------------


def test_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)
    assert (
        parse_retry_after({"retry-after": email.utils.formatdate(now - 5, usegmt=True)}, now) == 0
    )
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_doubles_with_jitter_and_respects_caps() -> None:
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=8.0, max_retry_after_s=20.0)
    rng = random.Random(1)
    for retry in range(6):
        step = min(8.0, 2.0**retry)
        waits = [policy.wait_s(retry, None, rng) for _ in range(200)]
        assert min(waits) >= step / 2 and max(waits) <= step
        assert max(waits) - min(waits) > step / 4  # jittered, not constant
    assert policy.wait_s(0, 3.5, rng) == 3.5  # the server's word wins
    assert policy.wait_s(0, 3600, rng) == 20.0  # within reason


def test_sse_decoder_frames_events() -> None:
    decoder = SseDecoder()
    lines = [": keep-alive", 'data: {"a":', "data: 1}", "", "event: x", "data: [DONE]"]
    events = [e for line in lines for e in decoder.feed(line)]
    assert events == ['{"a":\n1}']
    assert decoder.flush() == ["[DONE]"]  # last event without a trailing blank line


def test_answer_accumulates_stream_and_detects_cut() -> None:
    answer = Answer()
    answer.add_chunk({"choices": [{"delta": {"role": "assistant", "content": ""}}]}, 1.0)
    answer.add_chunk({"choices": [{"delta": {"reasoning_content": "think "}}]}, 2.0)
    answer.add_chunk({"choices": [{"delta": {"content": "Answer: "}}]}, 3.0)
    with pytest.raises(AttemptFailed, match="ended before"):
        answer.check_stream_complete()
    answer.add_chunk({"choices": [{"delta": {"content": "4"}, "finish_reason": "length"}]}, 4.0)
    answer.add_chunk({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}, 5.0)
    answer.check_stream_complete()
    assert (answer.text, answer.reasoning, answer.first_token_at) == ("Answer: 4", "think ", 2.0)
    assert answer.token_counts() == (5, 3, None)
    with pytest.raises(AttemptFailed, match="no choices"):
        Answer.from_response({"choices": []})
    with pytest.raises(AttemptFailed, match="overloaded"):
        Answer.from_response({"error": {"message": "overloaded"}})


def test_least_outstanding_replica_is_chosen() -> None:
    replicas = _Replicas(["a", "b", "c"])
    first = [replicas.acquire() for _ in range(3)]
    assert sorted(first) == [0, 1, 2]  # idle replicas share the load
    replicas.release(1)
    assert replicas.acquire() == 1  # the only one with a free slot
    replicas.release(0)
    replicas.release(2)
    assert replicas.acquire() in (0, 2)


# --- model references and the provider catalog (no network) ------------------------------------


def test_adhoc_reference_parses_urls_kind_and_options() -> None:
    spec = resolve_model(
        "openai:http://h1:8000/v1/,https://h2/v1#org/model:7b?kind=base&timeout=3&retries=2"
        "&body.repeat_penalty=1.0&key_env=MY_KEY"
    )
    assert spec.backend == "openai" and spec.kind == "base" and spec.api is not None
    assert spec.api.base_urls == ["http://h1:8000/v1", "https://h2/v1"]
    assert spec.api.model == "org/model:7b"
    assert (spec.api.timeout_s, spec.api.max_retries) == (3.0, 2)
    assert spec.api.extra_body == {"repeat_penalty": 1.0}
    assert spec.api.api_key_env == "MY_KEY"
    # Only output-changing options are part of the identity.
    assert spec.id == (
        "openai:http://h1:8000/v1,https://h2/v1#org/model:7b?kind=base&body.repeat_penalty=1.0"
    )
    assert resolve_model("openai:http://h:1/v1#m").kind == "instruct"
    assert resolve_model("openai:http://h:1/v1#m?name=my-m").id == "my-m"


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("openai:http://h:1/v1", "write openai:http://HOST:PORT/v1#MODEL-NAME"),
        ("openai:127.0.0.1:8000/v1#m", "Bad base URL"),
        ("openai:http://h:1/v1#m?timeout=fast", "must be a number"),
        ("openai:http://h:1/v1#m?kind=chat", "must be base or instruct"),
        ("openai:http://h:1/v1#m?timout=3", "Did you mean: timeout"),
        ("openai:http://h:1/v1#m?concurrency=0", "concurrency"),
        ("deepseek/deepseek-chatt", "Did you mean: deepseek/deepseek-chat"),
        ("deepseek-chat", "Did you mean: deepseek/deepseek-chat"),
    ],
)
def test_bad_references_are_usage_errors(ref: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_model(ref)
    assert fragment in str(info.value)


def test_provider_catalog_entries_are_complete() -> None:
    providers = load_providers()
    wanted = {"deepseek", "qwen", "moonshot", "zhipu", "doubao", "ernie", "minimax", "openai"}
    wanted |= {"vllm", "sglang", "llamacpp-server", "ollama", "nim", "azure"}
    assert wanted <= set(providers)
    for provider in providers.values():
        assert provider.base_urls and provider.origin and provider.organisation
        assert provider.any_model or provider.models, provider.id
        for model in provider.models:
            priced = model.price_input_per_mtok is not None
            # A price without its date and source page could not be checked by anyone.
            assert not priced or (provider.price_date and provider.price_source), model.id
    ids = {spec.id for spec in list_provider_models()}
    assert {"deepseek/deepseek-chat", "deepseek/deepseek-reasoner", "vllm/<model>"} <= ids


def test_provider_reference_builds_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = resolve_model("deepseek/deepseek-reasoner")
    assert spec.api is not None and spec.price is not None
    assert spec.api.model == "deepseek-reasoner" and spec.api.api_key_env == "DEEPSEEK_API_KEY"
    assert spec.price.source and spec.price.source.startswith("https://api-docs.deepseek.com")
    generic = resolve_model("vllm/Qwen/Qwen2.5-7B-Instruct?kind=base")
    assert generic.api is not None and generic.api.model == "Qwen/Qwen2.5-7B-Instruct"
    assert generic.kind == "base" and generic.id == "vllm/Qwen/Qwen2.5-7B-Instruct?kind=base"
    monkeypatch.setenv("VLLM_BASE_URL", "http://a:1/v1, http://b:2/v1")
    assert resolve_model("vllm/m").api.base_urls == ["http://a:1/v1", "http://b:2/v1"]  # type: ignore[union-attr]
    monkeypatch.delenv("AZURE_OPENAI_BASE_URL", raising=False)
    with pytest.raises(UsageError, match="set AZURE_OPENAI_BASE_URL"):
        resolve_model("azure/my-deployment")
    azure_url = "https://res.openai.azure.com/openai/v1"
    monkeypatch.setenv("AZURE_OPENAI_BASE_URL", azure_url)
    assert resolve_model("azure/my-deployment").api.auth_header == "api-key"  # type: ignore[union-attr]


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    spec = resolve_model("deepseek/deepseek-chat")
    assert key_status(spec) == "missing"
    with pytest.raises(UsageError, match="set the environment variable DEEPSEEK_API_KEY"):
        load_backend(spec, None, BackendOptions())
    monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)
    assert key_status(spec) == "set"
    assert key_status(resolve_model("vllm/m")) in ("optional", "set")
    assert key_status(resolve_model("ollama/m")) == "n/a"
    assert SECRET not in spec.model_dump_json()


# --- against the fault server (loopback) --------------------------------------------------------

network = pytest.mark.network


@network
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
@pytest.mark.parametrize("fault", [*FAULTS, "400"])
def test_each_fault_is_retried_or_reported(fault: str, stream: bool) -> None:
    # The timeout applies to every attempt, the fault-free retry too: 2 s keeps a pause of the
    # shared process (GC, a loaded CI machine) from turning the good answer into a second retry.
    with FaultServer(script=[fault, None], slow_s=30.0) as server:
        backend = _backend(server.url, f"timeout=2&stream={str(stream).lower()}")
        [generation] = _run(backend, [_chat(0)])
    if fault == "400":  # a bad request fails the same way every time: not retried
        assert generation.error is not None and generation.error.startswith("HTTP 400")
        assert generation.finish_reason == "error" and len(server.log) == 1
        return
    assert generation.error is None, generation.error
    assert generation.text == "The answer is 42. Answer: 42"
    assert generation.retries == 1 and len(server.log) == 2


@network
def test_gives_up_after_bounded_retries_with_reason() -> None:
    with FaultServer(script=["503"] * 10) as server:
        backend = _backend(server.url, "retries=2")
        [generation] = _run(backend, [_chat(0)])
    assert generation.finish_reason == "error" and generation.retries == 2
    assert generation.error == "HTTP 503: injected 503; gave up after 2 retries"
    assert len(server.log) == 3


@network
def test_retry_after_is_honoured_and_backoff_used_without_it() -> None:
    with FaultServer(script=["429-retry-after", None], retry_after="1") as server:
        start = time.perf_counter()
        [generation] = _run(_backend(server.url, "backoff=0.01"), [_chat(0)])
        waited = time.perf_counter() - start
    assert generation.error is None and waited >= 0.95
    with FaultServer(script=["429", "429", None]) as server:
        start = time.perf_counter()
        [generation] = _run(_backend(server.url, "backoff=0.2"), [_chat(0)])
        waited = time.perf_counter() - start
    # Equal jitter: at least half of each step, 0.1 s then 0.2 s.
    assert generation.error is None and generation.retries == 2 and waited >= 0.3


@network
def test_thirty_percent_faults_every_request_accounted_for() -> None:
    with FaultServer(fault_rate=0.3, slow_s=2.0, seed=7) as server:
        backend = _backend(server.url, "timeout=1&retries=5")
        requests = [_chat(i) for i in range(200)]
        generations = _run(backend, requests)
    assert sorted(g.request_id for g in generations) == sorted(r.request_id for r in requests)
    assert all(g.error is None or g.finish_reason == "error" for g in generations)
    assert all(g.retries <= 5 for g in generations)
    # The server saw each request once plus at most once per retry (an attempt that times out
    # before the server reads it is a retry the server never saw).
    attempts = len(requests) + sum(g.retries for g in generations)
    assert attempts - 5 <= len(server.log) <= attempts
    assert sum(server.fault_counts.values()) >= 30  # the faults really happened
    # Successful answers are the server's fault-free answers, each taken exactly once.
    assert sum(g.error is None for g in generations) <= server.answered
    failed = [g for g in generations if g.error]
    assert all("gave up after 5 retries" in (g.error or "") for g in failed)


@network
def test_concurrency_limit_holds() -> None:
    # Each answer takes 0.4 s, so the limit is reached even when a loaded machine sends the
    # requests of one wave tens of milliseconds apart.
    with FaultServer(delay_s=0.4) as server:
        _run(_backend(server.url, concurrency=4), [_chat(i) for i in range(24)])
    assert server.max_in_flight == 4
    with FaultServer(delay_s=0.4) as server:
        _run(_backend(server.url, "concurrency=3"), [_chat(i) for i in range(12)])
    assert server.max_in_flight == 3


@network
def test_replicas_share_load_by_outstanding_requests() -> None:
    with FaultServer(delay_s=0.01) as fast, FaultServer(delay_s=0.2) as slow:
        backend = _backend(f"{fast.url},{slow.url}", "concurrency=4")
        generations = _run(backend, [_chat(i) for i in range(40)])
    assert all(g.error is None for g in generations)
    assert len(fast.log) + len(slow.log) == 40
    # The slow replica holds its requests longer, so it is picked less often.
    assert len(fast.log) > 2 * len(slow.log) and len(slow.log) >= 2


@network
def test_streaming_timing_usage_and_reasoning() -> None:
    def reasoning(body: dict[str, object]) -> str:
        return "let me add them"

    with FaultServer(chunk_delay_s=0.02, reasoning=reasoning) as server:
        [g] = _run(_backend(server.url), [_chat(0)])
        [plain] = _run(_backend(server.url, "stream=false"), [_chat(1)])
    body = server.log[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 64 and body["temperature"] == 0.0 and body["model"] == "fake"
    assert g.timing.ttft_s is not None and 0 < g.timing.ttft_s < g.timing.latency_s - 0.1
    assert (g.reasoning, g.reasoning_tokens) == ("let me add them", 4)
    assert (g.prompt_tokens, g.completion_tokens) == (2, 4 + 6)
    assert plain.timing.ttft_s is None and "stream" not in server.log[1].body
    assert (plain.text, plain.reasoning) == (g.text, g.reasoning)


@network
def test_think_blocks_and_length_and_completions_endpoint() -> None:
    def answer(body: dict[str, object]) -> str:
        return "<think>2 plus 2</think>Answer: 4 and more words here"

    with FaultServer(answer=answer) as server:
        base = GenerationRequest(
            request_id="b", sampling=SamplingParams(max_tokens=3, stop=("\nQ:",)), prompt="Q: 2+2"
        )
        [g] = _run(_backend(server.url, "kind=base"), [base])
    record = server.log[0]
    assert record.path == "/v1/completions" and record.body["prompt"] == "Q: 2+2"
    assert record.body["stop"] == ["\nQ:"]
    # The backend keeps the text as served; the runner splits inline reasoning for every backend.
    assert g.finish_reason == "length" and g.reasoning is None
    split = split_reasoning(g)
    assert split.reasoning == "2 plus 2" and split.text == "Answer:"


@network
def test_key_never_leaks_and_auth_failure_stops_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    with FaultServer(script=["401"]) as server:
        backend = _backend(server.url, "key_env=FAKE_API_KEY&preflight=false", concurrency=1)
        texts = [repr(backend), str(backend.info()), repr(backend.config)]
        generations = _run(backend, [_chat(i) for i in range(5)])
    assert server.log[0].headers["authorization"] == f"Bearer {SECRET}"
    assert len(server.log) == 1  # a rejected key is not tried again and again
    assert all(g.finish_reason == "error" for g in generations)
    assert "HTTP 401" in (generations[0].error or "")
    assert all((g.error or "").startswith("not sent: HTTP 401") for g in generations[1:])
    for text in [*texts, *(json.dumps(g.__dict__, default=str) for g in generations)]:
        assert SECRET not in text


@network
def test_preflight_rejects_unreachable_and_non_api_servers() -> None:
    port = _free_port()
    with pytest.raises(BackendError, match=r"Cannot reach http://127\.0\.0\.1:\d+/v1 \(connection"):
        _backend(f"http://127.0.0.1:{port}/v1")
    with FaultServer(models_html=True) as server, pytest.raises(UsageError, match="does not speak"):
        _backend(server.url)


@network
def test_consumer_stopping_early_cancels_the_rest() -> None:
    with FaultServer(delay_s=0.2) as server:
        backend = _backend(server.url, concurrency=2)
        iterator: Iterator[Generation] = backend.generate([_chat(i) for i in range(50)])
        first = next(iterator)
        iterator.close()  # what the runner's loop does on Ctrl-C
        backend.close()
    assert first.error is None and len(server.log) < 10


# --- through the CLI, runner and store (loopback) -----------------------------------------------


def _task_answers(n: int) -> tuple[dict[str, str], set[int]]:
    """Prompt -> answer for arith instances 0..n-1, asked as the CLI asks by default; every third
    one answered wrongly."""
    from gapbench.tasks.prompts import DEFAULT_PROMPT_STYLE, chat_messages
    from gapbench.tasks.registry import get_task

    task = get_task("arith")
    answers, right = {}, set()
    for index in range(n):
        instance = task.instance(0, index, "medium")
        prompt = chat_messages(task, instance, DEFAULT_PROMPT_STYLE)[-1].content
        good = index % 3 != 0
        answers[prompt] = f"Answer: {instance.answer}" if good else "Answer: -999999"
        right |= {index} if good else set()
    return answers, right


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@network
def test_cli_run_with_faults_accounts_for_every_sample_and_resumes(
    cli: CliInvoke, db: Path
) -> None:
    answers, right = _task_answers(200)
    server = FaultServer(fault_rate=0.3, seed=3, slow_s=2.0, answer=lambda b: answers[prompt_of(b)])
    with server:
        ref = f"openai:{server.url}#fake"
        opts = "?timeout=1&backoff=0.01&retries=1"  # few retries, so some samples fail
        args = ["run", "--model", ref + opts, "--task", "arith", "--n", "200", "--db", str(db)]
        first = cli(*args)
        assert first.exit_code == 1, first.output  # samples failed: say so, exit 1
        rows = _rows(db, "SELECT instance_index, correct, error FROM samples")
        assert sorted(r[0] for r in rows) == list(range(200))  # none lost, none twice
        failed = {int(str(r[0])) for r in rows if r[2] is not None}
        assert failed and all("gave up after 1 retries" in str(r[2]) for r in rows if r[2])
        for index, correct, error in rows:
            assert bool(correct) == (error is None and index in right)  # scored independently
        seen_before = len(server.log)
        second = cli(*args[:2], ref + "?timeout=1&backoff=0.01&retries=8", *args[3:])
        assert second.exit_code == 0, second.output
        rerun_prompts = {prompt_of(r.body) for r in server.log[seen_before:]}
    prompts_by_index = {i: p for i, p in enumerate(answers)}
    assert rerun_prompts == {prompts_by_index[i] for i in failed}  # only the failed ones
    rows = _rows(
        db, "SELECT COUNT(*), COUNT(DISTINCT instance_index), SUM(error IS NULL) FROM samples"
    )
    assert rows == [(200, 200, 200)]
    # The rerun, which left no sample failed, completed (the first run's status counts its
    # failures, and is the runner's business).
    runs = _rows(db, "SELECT status, backend FROM runs ORDER BY id")
    assert runs[-1] == ("completed", "openai") and {b for _, b in runs} == {"openai"}


@network
def test_cli_bad_endpoints_fail_in_one_sentence_and_touch_nothing(
    cli: CliInvoke, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = cli("run", "--model", "scripted:a", "--task", "arith", "--n", "3", "--db", str(db))
    assert seeded.exit_code == 0
    before = _rows(db, "SELECT * FROM samples"), _rows(db, "SELECT * FROM runs")
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    run = ["--task", "arith", "--n", "3", "--db", str(db)]
    closed = f"openai:http://127.0.0.1:{_free_port()}/v1#m"
    with FaultServer(models_html=True) as html:
        cases = [
            (closed, 1, "Cannot reach"),
            (f"openai:{html.url}#m", 2, "does not speak the OpenAI API"),
            ("openai:localhost:8000#m", 2, "Bad base URL"),
            ("nosuchprovider/model", 2, "Unknown model"),
            ("deepseek/deepseek-chat", 2, "DEEPSEEK_API_KEY"),
        ]
        for ref, code, fragment in cases:
            result = cli("run", "--model", ref, *run)
            assert result.exit_code == code, (ref, result.output)
            # The progress bar may have been drawn; the error itself is one line.
            [message] = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
            assert fragment in message and "Traceback" not in result.output
    assert (_rows(db, "SELECT * FROM samples"), _rows(db, "SELECT * FROM runs")) == before


@network
def test_cli_never_stores_the_key(
    cli: CliInvoke, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    with FaultServer(script=[None, "401"]) as server:
        ref = f"openai:{server.url}#fake?key_env=FAKE_API_KEY&concurrency=1"
        result = cli("run", "--model", ref, "--task", "arith", "--n", "4", "--db", str(db))
    assert result.exit_code == 1, result.output  # three samples failed
    assert SECRET not in result.output
    errors = _rows(db, "SELECT error FROM samples WHERE error IS NOT NULL")
    assert len(errors) == 3  # one answered, then the key was refused and the rest not sent
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert SECRET not in dump and "HTTP 401" in dump


@network
def test_configured_token_price_charges_an_api_model(
    cli: CliInvoke, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `[prices]` entry in gapbench.toml prices a model the catalog has no price for: the
    leaderboard's cost is the stored token usage times that price."""
    import json

    monkeypatch.chdir(tmp_path)
    Path("gapbench.toml").write_text(
        '[prices."priced-fake"]\ninput_per_mtok = 2.0\noutput_per_mtok = 8.0\n'
    )
    with FaultServer() as server:
        ref = f"openai:{server.url}#fake?name=priced-fake"
        result = cli("run", "--model", ref, "--task", "arith", "--n", "5", "--db", str(db))
        assert result.exit_code == 0, result.output
    board = cli("leaderboard", "--json", "--db", str(db))
    assert board.exit_code == 0, board.output
    rows = json.loads(board.output)
    overall = next(r for r in rows if r["model"] == "priced-fake" and r["task"] == "overall")
    usage = "SELECT SUM(prompt_tokens), SUM(completion_tokens) FROM samples"
    prompt, completion = _rows(db, usage)[0]
    assert isinstance(prompt, int) and isinstance(completion, int) and completion > 0
    assert overall["cost_usd"] == pytest.approx((prompt * 2.0 + completion * 8.0) / 1e6)

    Path("gapbench.toml").write_text('[prices."priced-fake"]\ninput_per_mtok = "cheap"\n')
    bad = cli("leaderboard", "--db", str(db))
    assert bad.exit_code == 2 and "input_per_mtok" in bad.output
