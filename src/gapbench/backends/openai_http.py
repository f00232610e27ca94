"""OpenAI-compatible HTTP backend: hosted APIs (DeepSeek, Qwen, Kimi, GLM, OpenAI...) and
inference servers (vLLM, SGLang, llama.cpp, Ollama, NIM) through one client.

`generate` is the plain iterator the runner expects, but the requests run concurrently on an
asyncio loop in one background thread that lives as long as the backend (so connections are
reused); each finished Generation crosses back through a thread-safe queue as soon as it is done,
so the runner stores it at once. Every request yields exactly one Generation: an answer, or
finish_reason 'error' with the reason after bounded retries.

Requests go through aiohttp, one connection pool for all workers. The client's CPU per request
decides how close a run on a fast server (a local vLLM, a loopback test) comes to the server's
capacity, and measured at concurrency 32 (benchmarks/bench_http_client.py, docs/benchmarks.md):
httpx's AsyncClient cost 1.6-2.5 ms per request (its pool rescans every connection on each
request, encode/httpx#3215, and its client layers add the rest), httpx over an aiohttp transport
about 1 ms, and aiohttp alone about half that. httpx still serves the one synchronous preflight
request (openai_preflight.py).

Settings and credentials (kept in `Secret`s that never show themselves) live in
openai_config.py; every error text goes through `EndpointConfig.redact` before it leaves this
module. Servers that need settings of their own (llama.cpp's) are recognised at preflight and
tuned in openai_servers.py.
"""

from __future__ import annotations

import asyncio
import json
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gapbench.backends.http_retry import AttemptFailed, status_failure
from gapbench.backends.openai_config import EndpointConfig, endpoint_config
from gapbench.backends.openai_servers import cut_stream_advice, for_server
from gapbench.backends.sse import (
    DONE,
    Answer,
    SseDecoder,
    StreamInterrupted,
    error_message,
    parse_json,
)
from gapbench.backends.types import BackendInfo, Generation, GenerationRequest, Timing
from gapbench.errors import BackendError

if TYPE_CHECKING:
    import aiohttp

    from gapbench.backends.registry import BackendOptions
    from gapbench.catalog.types import ModelSpec

__all__ = ["EndpointConfig", "OpenAIHttpBackend", "create"]


class _Replicas:
    """Least-outstanding-requests choice among base URLs (used on the loop thread only)."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        self.outstanding = [0] * len(urls)
        self.served = [0] * len(urls)
        self._next = 0

    def acquire(self) -> int:
        """Pick the replica with the fewest requests in flight; ties go round-robin so idle
        replicas share the load evenly."""
        n = len(self.urls)
        best = min(range(n), key=lambda i: (self.outstanding[i], (i - self._next) % n))
        self.outstanding[best] += 1
        self.served[best] += 1
        self._next = (best + 1) % n
        return best

    def release(self, index: int) -> None:
        self.outstanding[index] -= 1


class OpenAIHttpBackend:
    """A model behind an OpenAI-compatible API. Implements the Backend protocol."""

    def __init__(self, config: EndpointConfig, *, server: str = "") -> None:
        self.config = config
        self.server = server
        """The Server header seen at preflight, for provenance."""
        self.replicas = _Replicas(config.base_urls)
        self.total_retries = 0
        self._fatal: str | None = None
        self._send_usage_option = True
        self._rng = random.Random()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="gapbench-http", daemon=True
        )
        self._thread.start()
        self._session: aiohttp.ClientSession = self._call(self._make_session())
        self._headers = [
            {"Content-Type": "application/json", **config.headers(i)}
            for i in range(len(config.base_urls))
        ]

    def __repr__(self) -> str:
        return f"OpenAIHttpBackend({self.config.model_id!r}, urls={len(self.config.base_urls)})"

    async def _make_session(self) -> aiohttp.ClientSession:
        """One connection pool sized to the concurrency, made on the loop thread (aiohttp binds a
        session to the running loop)."""
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self.config.concurrency)
        # No proxy settings from the environment, as before: an evaluation talks to the endpoint
        # it names. Compressed answers are still accepted and decoded.
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    # --- requests

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        cfg = self.config
        sampling = request.sampling
        body: dict[str, Any] = {"model": cfg.api_model}
        if cfg.chat:
            messages = request.messages or ()
            body["messages"] = [{"role": m.role, "content": m.content} for m in messages] or [
                {"role": "user", "content": request.prompt or ""}
            ]
        else:  # a base model continues text; chat turns are joined as the local backend does
            body["prompt"] = (
                request.prompt
                if request.prompt is not None
                else "\n\n".join(m.content for m in request.messages or ())
            )
        temperature = sampling.temperature
        if cfg.min_temperature is not None and temperature < cfg.min_temperature:
            temperature = cfg.min_temperature
        params: dict[str, Any] = {
            "temperature": temperature,
            "top_p": sampling.top_p,
            cfg.max_tokens_field: sampling.max_tokens,
            "seed": sampling.seed,
        }
        if sampling.stop:
            params["stop"] = list(sampling.stop)
        body.update((k, v) for k, v in params.items() if k not in cfg.omit_params)
        body.update(cfg.extra_body)
        if cfg.stream:
            body["stream"] = True
            if self._send_usage_option:
                body["stream_options"] = {"include_usage": True}
        return body

    async def _attempt(self, request: GenerationRequest) -> Generation:
        """One try at one request; raises AttemptFailed."""
        import aiohttp

        cfg = self.config
        body = self._body(request)
        index = self.replicas.acquire()
        url = cfg.base_urls[index] + ("/chat/completions" if cfg.chat else "/completions")
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(10.0, cfg.timeout_s), sock_read=cfg.timeout_s
        )
        start = time.perf_counter()
        try:
            async with (
                asyncio.timeout(cfg.timeout_s),
                self._session.post(
                    url, data=payload, headers=self._headers[index], timeout=timeout
                ) as r,
            ):
                await self._check_status(r)
                if body.get("stream"):
                    answer = await self._read_stream(r)
                else:
                    answer = Answer.from_response(parse_json(await r.read(), "response"))
        except StreamInterrupted:
            raise AttemptFailed(cut_stream_advice(cfg.server_kind), retryable=False) from None
        except TimeoutError:
            # asyncio.timeout's and aiohttp's socket timeouts (ServerTimeoutError is one too).
            raise AttemptFailed(
                f"no complete answer within {cfg.timeout_s:g} s", retryable=True
            ) from None
        except aiohttp.ClientError as exc:
            detail = cfg.redact(str(exc)) or type(exc).__name__
            raise AttemptFailed(f"connection failed: {detail}", retryable=True) from None
        finally:
            self.replicas.release(index)
        return _generation(request, answer, start, time.perf_counter())

    async def _check_status(self, response: aiohttp.ClientResponse) -> None:
        if response.status < 400:
            return
        raw = (await response.read())[:4096]
        try:
            message = error_message(parse_json(raw, "error body")) or ""
        except AttemptFailed:
            message = raw.decode("utf-8", errors="replace").strip()
        failure = status_failure(response.status, message, response.headers)
        if response.status == 400 and "stream_options" in message and self._send_usage_option:
            # An older server rejecting the usage option: stream without it from now on.
            self._send_usage_option = False
            failure = AttemptFailed(failure.reason, retryable=True, retry_after=0.0)
        failure.reason = self.config.redact(" ".join(failure.reason.split()))
        raise failure

    async def _read_stream(self, response: aiohttp.ClientResponse) -> Answer:
        answer = Answer()
        if "text/event-stream" not in response.headers.get("Content-Type", ""):
            # The server ignored stream=true and sent one JSON response.
            return Answer.from_response(parse_json(await response.read(), "response"))
        import aiohttp

        decoder = SseDecoder()
        # Read to the end even after [DONE]: a body left unread closes the connection instead of
        # returning it to the pool (a new TCP connection per request).
        try:
            # Whatever has arrived, not line by line: aiohttp's line reader fails on a line over
            # its buffer limit, and the decoder splits lines of any length itself (sse.py).
            async for piece in response.content.iter_any():
                for data in decoder.feed_bytes(piece):
                    self._add_event(answer, data)
        except aiohttp.ClientPayloadError:
            # A body cut after [DONE] is the server's own ending (llama-cpp-python drops the
            # connection when it interrupts a stream): the answer decides. Before it, a network
            # failure like any other.
            if not answer.done:
                raise
        for data in decoder.flush():
            self._add_event(answer, data)
        answer.check_stream_complete()
        return answer

    @staticmethod
    def _add_event(answer: Answer, data: str) -> None:
        if answer.done:
            return  # nothing after [DONE] is part of the answer
        if data.strip() == DONE:
            answer.done = True
        else:
            answer.add_chunk(parse_json(data, "stream"), time.perf_counter())

    async def _run_one(self, request: GenerationRequest) -> Generation:
        """All attempts at one request: retries retryable failures with backoff, stops the batch
        on a fatal one, and always returns exactly one Generation."""
        policy = self.config.retry
        start = time.perf_counter()
        reason = "not attempted"
        for attempt in range(policy.max_retries + 1):
            if self._fatal is not None:
                return _failed(request, start, f"not sent: {self._fatal}", attempt)
            try:
                return replace(await self._attempt(request), retries=attempt)
            except AttemptFailed as failure:
                reason = self.config.redact(failure.reason)
                if failure.fatal:
                    self._fatal = self._fatal or reason
                if not failure.retryable:
                    return _failed(request, start, reason, attempt)
                if attempt == policy.max_retries:
                    break
                self.total_retries += 1
                await asyncio.sleep(policy.wait_s(attempt, failure.retry_after, self._rng))
            except Exception as exc:  # a bug must not lose the sample: record it as its error
                detail = self.config.redact(f"{type(exc).__name__}: {exc}")
                return _failed(request, start, f"internal error: {detail}", attempt)
        retries = policy.max_retries
        return _failed(request, start, f"{reason}; gave up after {retries} retries", retries)

    async def _run_batch(
        self, requests: Sequence[GenerationRequest], emit: Callable[[Generation], None]
    ) -> None:
        pending = iter(requests)

        async def worker() -> None:
            for request in pending:  # one shared iterator: each request is taken once
                emit(await self._run_one(request))

        n_workers = min(self.config.concurrency, len(requests))
        await asyncio.gather(*(worker() for _ in range(n_workers)))

    # --- Backend protocol

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[Generation]:
        """Run the requests `concurrency` at a time; yield each Generation as it finishes."""
        if not requests:
            return
        results: queue.Queue[Generation] = queue.Queue()
        future: Future[None] = asyncio.run_coroutine_threadsafe(
            self._run_batch(requests, results.put), self._loop
        )
        try:
            for _ in range(len(requests)):
                yield self._next_result(results, future)
        finally:
            # A consumer that stops early (Ctrl-C) cancels what is still in flight.
            future.cancel()

    @staticmethod
    def _next_result(results: queue.Queue[Generation], future: Future[None]) -> Generation:
        while True:
            try:
                return results.get(timeout=0.2)
            except queue.Empty:
                if future.done() and results.empty():
                    future.result()  # re-raises a crash of the batch itself
                    raise BackendError(
                        "The HTTP backend stopped before answering every request; "
                        "rerun the same command to retry the missing samples."
                    ) from None

    def info(self) -> BackendInfo:
        """Provenance: the API model, endpoints (without credentials) and client settings."""
        import aiohttp

        cfg = self.config
        hosts = sorted({urlsplit(u).netloc for u in cfg.base_urls})
        extra = {
            "api_model": cfg.api_model,
            "base_urls": ",".join(cfg.base_urls),  # without credentials (openai_config)
            "endpoint": "chat/completions" if cfg.chat else "completions",
            "stream": str(cfg.stream).lower(),
            "timeout_s": f"{cfg.timeout_s:g}",
            "max_retries": str(cfg.retry.max_retries),
        }
        if cfg.key_env:
            extra["api_key_env"] = cfg.key_env
        if cfg.extra_body:
            extra["extra_body"] = json.dumps(dict(cfg.extra_body), sort_keys=True)
        if cfg.server_kind:
            extra["server_kind"] = cfg.server_kind
            extra["server_settings"] = "; ".join(cfg.server_notes)
        engine = f"openai-compatible HTTP (aiohttp {aiohttp.__version__})"
        return BackendInfo(
            backend="openai",
            engine_version=engine + (f"; server {self.server}" if self.server else ""),
            batch_size=cfg.concurrency,
            device="remote: " + ", ".join(hosts),
            extra=extra,
        )

    def close(self) -> None:
        """Close connections and stop the loop thread."""
        if not self._loop.is_closed():
            try:
                self._call(self._session.close())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
                self._loop.close()


def _generation(request: GenerationRequest, answer: Answer, start: float, end: float) -> Generation:
    # Inline <think> blocks stay in the text: the runner splits them out for every backend.
    text, reasoning = answer.text, answer.reasoning
    prompt_tokens, completion_tokens, reasoning_tokens = answer.token_counts()
    return Generation(
        request_id=request.request_id,
        text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason="length" if answer.finish_reason == "length" else "stop",
        timing=Timing(start=start, end=end, first_token=answer.first_token_at),
        reasoning=reasoning,
        reasoning_tokens=reasoning_tokens,
    )


def _failed(request: GenerationRequest, start: float, reason: str, retries: int) -> Generation:
    return Generation.failed(request.request_id, start, reason, retries=retries)


def create(spec: ModelSpec, model_path: Path | None, options: BackendOptions) -> OpenAIHttpBackend:
    """Registry factory: read the key, check the endpoint answers, and start the client."""
    from gapbench.backends.openai_preflight import preflight

    del model_path  # remote weights
    config = endpoint_config(spec, options)
    if spec.api is None or not spec.api.preflight:
        return OpenAIHttpBackend(config)
    profile = preflight(config)
    return OpenAIHttpBackend(for_server(config, profile), server=profile.server)
