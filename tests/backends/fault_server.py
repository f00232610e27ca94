"""A fake OpenAI-compatible server on loopback that answers, or fails on purpose.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies, chunked SSE streams) over
asyncio to be fast, and injects the failures a real API shows: 429 with and without Retry-After,
500, 503, answers slower than the client's timeout, streams cut mid-way, malformed JSON and empty
choices. Each POST draws its fault from `script` (an exact sequence, for unit tests) and then at
`fault_rate` from `faults` with a seeded RNG.

In tests: `with FaultServer(...) as server: server.url` ('http://127.0.0.1:PORT/v1'); it runs on
its own thread. For benchmarks, run it as a separate process so it does not share the client's
GIL: `python tests/backends/fault_server.py --delay 0.02` prints the URL on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FAULTS = ("429", "429-retry-after", "500", "503", "slow", "cut", "malformed", "empty")
"""Every fault drawn at random by default; '400', '401', 'html', 'interrupt' (a stream ended as
llama-cpp-python's server ends one it interrupts: [DONE] with no finish_reason, then the
connection dropped) and 'finish-then-abort' (a finished stream whose connection then drops)
only when scripted."""

Answerer = Callable[[dict[str, Any]], str]


def default_answer(body: dict[str, Any]) -> str:
    return "The answer is 42. Answer: 42"


def prompt_of(body: dict[str, Any]) -> str:
    """The prompt text of a chat (last message) or completion request."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        return str(messages[-1].get("content", ""))
    return str(body.get("prompt", ""))


@dataclass
class RequestLog:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    fault: str | None


@dataclass
class FaultServer:
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    script: list[str | None] = field(default_factory=list)
    """Faults for the first POSTs, in arrival order (None: answer normally)."""
    seed: int = 0
    answer: Answerer = default_answer
    reasoning: Callable[[dict[str, Any]], str | None] = lambda body: None
    """reasoning_content to send before the answer (as DeepSeek's reasoner does)."""
    delay_s: float = 0.0
    """Latency of every answer, as if generating (asyncio sleep: costs no CPU)."""
    chunk_delay_s: float = 0.0
    slow_s: float = 5.0
    retry_after: str = "0"
    send_usage: bool = True
    """Honour stream_options.include_usage (llama-cpp-python's server does not)."""
    log_requests: bool = True
    models_html: bool = False
    """Answer GET /models with an HTML page, like a web server that is not the API."""
    owned_by: str = "fake"
    """The owner GET /models names: 'me' as llama-cpp-python's server (which adds an empty
    'permissions' list), 'llamacpp' as llama-server."""
    props: dict[str, Any] | None = None
    """The answer to GET /props (llama-server's settings, e.g. total_slots); None: 404."""
    basic_auth: tuple[str, str] | None = None
    """(user, password) every request must present as Basic auth, else HTTP 401."""
    port: int = 0
    fault_counts: Counter[str] = field(default_factory=Counter)
    log: list[RequestLog] = field(default_factory=list)
    answered: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    # --- lifecycle

    def __enter__(self) -> FaultServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._rng = random.Random(self.seed)
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main(ready))
        self._loop.close()

    async def _main(self, ready: threading.Event | None) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self.port = server.sockets[0].getsockname()[1]
        if ready is not None:
            ready.set()
        self._connections: set[asyncio.Task[None]] = set()
        async with server:
            await self._stop.wait()
        for task in self._connections:  # close idle keep-alive connections cleanly
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    # --- HTTP

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self._route(method, path, headers, body, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # server shutting down; returning normally keeps asyncio's callback quiet
        finally:
            self._connections.discard(task)
            writer.close()

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: bytes,
        content_type: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
        head = [f"HTTP/1.1 {status} {reason.get(status, 'Error')}"]
        head += [f"Content-Type: {content_type}", f"Content-Length: {len(payload)}"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        await writer.drain()

    async def _route(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer one request; False to close the connection."""
        if self.basic_auth is not None:
            token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            if headers.get("authorization") != f"Basic {token}":
                self.log.append(RequestLog(path, {}, headers, "401"))
                await self._send(writer, 401, b'{"error": {"message": "bad credentials"}}')
                return True
        if method == "GET" and path == "/props":
            if self.props is None:
                await self._send(writer, 404, b'{"error": {"message": "no such route"}}')
            else:
                await self._send(writer, 200, json.dumps(self.props).encode())
            return True
        if method == "GET" and self.models_html:
            await self._send(writer, 200, b"<html><body>It works!</body></html>", "text/html")
            return True
        if method == "GET" and path.rstrip("/") == "/v1/models":
            entry: dict[str, Any] = {"id": "fake", "object": "model", "owned_by": self.owned_by}
            if self.owned_by == "me":
                entry["permissions"] = []
            models = {"object": "list", "data": [entry]}
            await self._send(writer, 200, json.dumps(models).encode(), extra={"Server": "fault"})
            return True
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/completions"):
            await self._send(writer, 404, b'{"error": {"message": "no such route"}}')
            return True
        body = json.loads(raw or b"{}")
        fault = self._draw()
        if self.log_requests:
            self.log.append(RequestLog(path, body, headers, fault))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if fault is not None:
                self.fault_counts[fault] += 1
                return await self._fail(fault, body, headers, writer)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            await self._answer(body, writer, cut=False)
            self.answered += 1
            return True
        finally:
            self.in_flight -= 1

    def _draw(self) -> str | None:
        if self.script:
            return self.script.pop(0)
        if self.fault_rate and self._rng.random() < self.fault_rate:
            return self._rng.choice(self.faults)
        return None

    async def _fail(
        self, fault: str, body: dict[str, Any], headers: dict[str, str], w: asyncio.StreamWriter
    ) -> bool:
        error = {"error": {"message": f"injected {fault}", "type": "fault"}}
        if fault == "429":
            await self._send(w, 429, json.dumps(error).encode())
        elif fault == "429-retry-after":
            await self._send(
                w, 429, json.dumps(error).encode(), extra={"Retry-After": self.retry_after}
            )
        elif fault in ("400", "500", "503"):
            await self._send(w, int(fault), json.dumps(error).encode())
        elif fault == "401":
            # Echo the key back, as some APIs do in part: the client must never store it.
            echoed = {
                "error": {
                    "message": f"Incorrect API key provided: {headers.get('authorization', '')}"
                }
            }
            await self._send(w, 401, json.dumps(echoed).encode())
        elif fault == "html":
            await self._send(w, 200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
        elif fault == "slow":
            await asyncio.sleep(self.slow_s)
            await self._answer(body, w, cut=False)
        elif fault == "cut":
            await self._answer(body, w, cut=True)
            return False
        elif fault in ("interrupt", "finish-then-abort"):
            await self._answer(body, w, cut=False, ending=fault)
            return False
        elif fault == "malformed":
            if body.get("stream"):
                await self._stream(w, ['{"choices": [{"delta": {"content": "Ans'], done=False)
            else:
                await self._send(w, 200, b'{"choices": [{"message": {"content": "Answer: 4')
        elif fault == "empty":
            usage = {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}
            if body.get("stream"):
                await self._stream(w, [json.dumps({"choices": [], "usage": usage})], done=True)
            else:
                await self._send(w, 200, json.dumps({"choices": [], "usage": usage}).encode())
        return True

    # --- answers

    def _completion(self, body: dict[str, Any]) -> tuple[list[str], list[str], str, dict[str, Any]]:
        """(answer pieces, reasoning pieces, finish_reason, usage) for a request."""
        pieces = re.findall(r"\S+\s*", self.answer(body))
        reasoning = re.findall(r"\S+\s*", self.reasoning(body) or "")
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 10**9)
        finish = "stop"
        if len(reasoning) + len(pieces) > limit:
            finish = "length"
            reasoning = reasoning[:limit]
            pieces = pieces[: max(0, limit - len(reasoning))]
        usage = {
            "prompt_tokens": len(prompt_of(body).split()),
            "completion_tokens": len(pieces) + len(reasoning),
            "completion_tokens_details": {"reasoning_tokens": len(reasoning)},
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return pieces, reasoning, finish, usage

    async def _answer(
        self, body: dict[str, Any], w: asyncio.StreamWriter, *, cut: bool, ending: str = ""
    ) -> None:
        pieces, reasoning, finish, usage = self._completion(body)
        chat = "messages" in body
        common = {"id": "cmpl-fake", "created": int(time.time()), "model": body.get("model")}
        if not body.get("stream"):
            if chat:
                message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces)}
                if reasoning:
                    message["reasoning_content"] = "".join(reasoning)
                choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": "".join(pieces), "finish_reason": finish}
            payload = json.dumps({**common, "choices": [choice], "usage": usage}).encode()
            if cut:  # promise the whole body, send half, hang up
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n"
                )
                w.write(head.encode() + payload[: len(payload) // 2])
                await w.drain()
                w.transport.abort()
                return
            await self._send(w, 200, payload)
            return

        def chunk(delta: dict[str, Any] | None, text: str | None, finish_reason: str | None) -> str:
            c: dict[str, Any] = {"index": 0, "finish_reason": finish_reason}
            if chat:
                c["delta"] = delta or {}
            else:
                c["text"] = text or ""
            return json.dumps({**common, "choices": [c]})

        events = [chunk({"role": "assistant", "content": ""}, "", None)] if chat else []
        events += [chunk({"reasoning_content": r}, None, None) for r in reasoning if chat]
        events += [chunk({"content": p}, p, None) for p in pieces]
        events.append(chunk({}, "", finish))
        options = body.get("stream_options") or {}
        if self.send_usage and options.get("include_usage"):
            events.append(json.dumps({**common, "choices": [], "usage": usage}))
        if cut:
            await self._stream(w, events[: max(1, len(events) // 2)], done=False, abort=True)
            return
        if ending == "interrupt":  # the first text, then [DONE] and a dropped connection
            await self._stream(w, events[: 2 if chat else 1], done=True, abort=True)
            return
        await self._stream(w, events, done=True, abort=ending == "finish-then-abort")

    async def _stream(
        self, w: asyncio.StreamWriter, events: list[str], *, done: bool, abort: bool = False
    ) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        w.write(head.encode())
        for data in [*events, "[DONE]"] if done else events:
            block = f"data: {data}\n\n".encode()
            w.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            await w.drain()
            if self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
        if abort:
            w.transport.abort()
            return
        w.write(b"0\r\n\r\n")
        await w.drain()


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server (prints its URL).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    args = parser.parse_args()
    server = FaultServer(
        fault_rate=args.fault_rate, delay_s=args.delay, port=args.port, log_requests=False
    )
    server._rng = random.Random(server.seed)

    async def run() -> None:
        ready = threading.Event()
        task = asyncio.create_task(server._main(ready))
        while not ready.is_set():
            await asyncio.sleep(0.01)
        print(server.url, flush=True)
        await task

    asyncio.run(run())


if __name__ == "__main__":
    main()
