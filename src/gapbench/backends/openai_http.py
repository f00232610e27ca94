"""OpenAI-compatible HTTP backend: hosted APIs (DeepSeek, Qwen, Kimi, GLM, OpenAI...) and
inference servers (vLLM, SGLang, llama.cpp, Ollama, NIM) through one client.

`generate` is the plain iterator the runner expects, but the requests run concurrently on an
asyncio loop in one background thread that lives as long as the backend (so connections are
reused); each finished Generation crosses back through a thread-safe queue as soon as it is done,
so the runner stores it at once. Every request yields exactly one Generation: an answer, or
finish_reason 'error' with the reason after bounded retries.

The API key is read from the environment when the model is loaded and kept in a `Secret`, whose
repr hides it; every error text is passed through `Secret.redact` before it leaves this module.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gapbench.backends.http_retry import AttemptFailed, RetryPolicy, status_failure
from gapbench.backends.sse import DONE, Answer, SseDecoder, error_message, parse_json
from gapbench.backends.types import BackendInfo, Generation, GenerationRequest, Timing
from gapbench.errors import BackendError, UsageError

if TYPE_CHECKING:
    import httpx

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
        import httpx

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
        timeout = httpx.Timeout(config.timeout_s, connect=min(10.0, config.timeout_s))
        limits = httpx.Limits(
            max_connections=config.concurrency * 2, max_keepalive_connections=config.concurrency
        )
        self._client = self._call(self._make_client(timeout, limits))

    def __repr__(self) -> str:
        return f"OpenAIHttpBackend({self.config.model_id!r}, urls={len(self.config.base_urls)})"

    async def _make_client(self, timeout: Any, limits: Any) -> httpx.AsyncClient:
        import httpx

        return httpx.AsyncClient(timeout=timeout, limits=limits, headers=self.config.headers())

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
        import httpx

        cfg = self.config
        body = self._body(request)
        index = self.replicas.acquire()
        url = cfg.base_urls[index] + ("/chat/completions" if cfg.chat else "/completions")
        start = time.perf_counter()
        try:
            async with asyncio.timeout(cfg.timeout_s):
                if body.get("stream"):
                    async with self._client.stream("POST", url, json=body) as response:
                        await self._check_status(response)
                        answer = await self._read_stream(response)
                else:
                    response = await self._client.post(url, json=body)
                    await self._check_status(response)
                    answer = Answer.from_response(parse_json(response.content, "response"))
        except TimeoutError:
            raise AttemptFailed(
                f"no complete answer within {cfg.timeout_s:g} s", retryable=True
            ) from None
        except httpx.TimeoutException as exc:
            raise AttemptFailed(f"timed out ({type(exc).__name__})", retryable=True) from None
        except httpx.TransportError as exc:
            detail = cfg.redact(str(exc)) or type(exc).__name__
            raise AttemptFailed(f"connection failed: {detail}", retryable=True) from None
        finally:
            self.replicas.release(index)
        return _generation(request, answer, start, time.perf_counter())

    async def _check_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        raw = (await response.aread())[:4096]
        try:
            message = error_message(parse_json(raw, "error body")) or ""
        except AttemptFailed:
            message = raw.decode("utf-8", errors="replace").strip()
        failure = status_failure(response.status_code, message, response.headers)
        if response.status_code == 400 and "stream_options" in message and self._send_usage_option:
            # An older server rejecting the usage option: stream without it from now on.
            self._send_usage_option = False
            failure = AttemptFailed(failure.reason, retryable=True, retry_after=0.0)
        failure.reason = self.config.redact(" ".join(failure.reason.split()))
        raise failure

    async def _read_stream(self, response: httpx.Response) -> Answer:
        answer = Answer()
        if "text/event-stream" not in response.headers.get("content-type", ""):
            # The server ignored stream=true and sent one JSON response.
            return Answer.from_response(parse_json(await response.aread(), "response"))
        decoder = SseDecoder()
        async for line in response.aiter_lines():
            for data in decoder.feed(line):
                if data.strip() == DONE:
                    answer.done = True
                    break
                answer.add_chunk(parse_json(data, "stream"), time.perf_counter())
            if answer.done:
                break
        else:
            for data in decoder.flush():
                if data.strip() == DONE:
                    answer.done = True
                else:
                    answer.add_chunk(parse_json(data, "stream"), time.perf_counter())
        answer.check_stream_complete()
        return answer

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

        workers = min(self.config.concurrency, len(requests))
        await asyncio.gather(*(worker() for _ in range(workers)))

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
        import httpx

        cfg = self.config
        hosts = sorted({urlsplit(u).netloc.rpartition("@")[2] for u in cfg.base_urls})
        extra = {
            "api_model": cfg.api_model,
            "base_urls": ",".join(public_url(u) for u in cfg.base_urls),
            "endpoint": "chat/completions" if cfg.chat else "completions",
            "stream": str(cfg.stream).lower(),
            "timeout_s": f"{cfg.timeout_s:g}",
            "max_retries": str(cfg.retry.max_retries),
        }
        if cfg.key_env:
            extra["api_key_env"] = cfg.key_env
        engine = f"openai-compatible HTTP (httpx {httpx.__version__})"
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
                self._call(self._client.aclose())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
                self._loop.close()


def _generation(request: GenerationRequest, answer: Answer, start: float, end: float) -> Generation:
    from gapbench.scoring.extract import strip_think

    text, reasoning = answer.text, answer.reasoning
    if "think>" in text:  # a model that writes its reasoning inline, <think>...</think>
        text, inline = strip_think(text)
        reasoning = "\n".join(r for r in (reasoning, inline) if r) or None
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
    return Generation(
        request_id=request.request_id,
        text="",
        prompt_tokens=0,
        completion_tokens=0,
        finish_reason="error",
        timing=Timing(start=start, end=time.perf_counter()),
        error=reason,
        retries=retries,
    )


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


def create(spec: ModelSpec, model_path: Path | None, options: BackendOptions) -> OpenAIHttpBackend:
    """Registry factory: read the key, check the endpoint answers, and start the client."""
    from gapbench.backends.openai_preflight import preflight

    del model_path  # remote weights
    config = endpoint_config(spec, options)
    server = preflight(config) if spec.api is not None and spec.api.preflight else ""
    return OpenAIHttpBackend(config, server=server)
