"""Event-stream framing of any line length, line ending and network split: the decoder on every
cut of a stream, and the HTTP backend against a loopback server that sends exactly the bytes a
test scripts, one HTTP chunk per piece."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from gapbench.backends.http_retry import AttemptFailed
from gapbench.backends.openai_http import OpenAIHttpBackend
from gapbench.backends.references import resolve_model
from gapbench.backends.registry import BackendOptions, load_backend
from gapbench.backends.sse import MAX_EVENT_BYTES, SseDecoder
from gapbench.backends.types import ChatMessage, Generation, GenerationRequest, SamplingParams

AIOHTTP_LINE_LIMIT = 2**19
"""aiohttp 3.14's StreamReader gives up on a line longer than this (LineTooLong), which the
backend used to report as an 'internal error'."""


def _chunk(content: str, finish: str | None = None) -> str:
    """One chunk, its text in raw UTF-8 as vLLM and llama.cpp send it."""
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    return json.dumps({"choices": [choice]}, ensure_ascii=False)


def _stream(*contents: str, eol: str = "\n") -> bytes:
    """A complete chat stream: one event per content, the last one finished, then [DONE]."""
    events = [_chunk(c, "stop" if i == len(contents) - 1 else None) for i, c in enumerate(contents)]
    return "".join(f"data: {e}{eol}{eol}" for e in [*events, "[DONE]"]).encode()


# --- the decoder, on every cut ------------------------------------------------------------------


def _decode(pieces: list[bytes], decoder: SseDecoder | None = None) -> list[str]:
    decoder = decoder or SseDecoder()
    events = [data for piece in pieces for data in decoder.feed_bytes(piece)]
    return events + decoder.flush()


MIXED = (
    b": keep-alive\r\n"
    b'data: {"a":\r\n'  # CRLF
    b"data: 1}\r\n\r\n"
    b"event: x\rdata: caf\xc3\xa9 \xe2\x82\xac\r\r"  # lone CR, and multi-byte UTF-8
    b"data:no-space\n\n"  # LF
    b"data: [DONE]"  # the last event without any line end
)
MIXED_EVENTS = ['{"a":\n1}', "café €", "no-space", "[DONE]"]


def test_decoder_gives_the_same_events_however_the_bytes_are_cut() -> None:
    assert _decode([MIXED]) == MIXED_EVENTS
    for cut in range(len(MIXED) + 1):  # every place a read can end, CR|LF and inside é included
        assert _decode([MIXED[:cut], MIXED[cut:]]) == MIXED_EVENTS, cut
    assert _decode([MIXED[i : i + 1] for i in range(len(MIXED))]) == MIXED_EVENTS
    for cut in range(1, len(MIXED)):  # and with empty reads in between
        assert _decode([MIXED[:cut], b"", MIXED[cut:], b""]) == MIXED_EVENTS, cut


def test_cr_then_lf_in_separate_reads_is_one_line_end() -> None:
    # CR ends the line at once (the event must not wait for the next read); the LF that follows
    # in the next read is the rest of the same CRLF, not a blank line ending the event early.
    decoder = SseDecoder()
    assert decoder.feed_bytes(b"data: a\r") == []
    assert decoder.feed_bytes(b"\ndata: b\r\n\r") == ["a\nb"]
    assert decoder.feed_bytes(b"\n") == []
    assert decoder.feed_bytes(b"\rdata: c\n\n") == ["c"]  # a lone CR now is a blank line
    assert decoder.flush() == []


def test_a_line_of_any_length_in_pieces_of_any_size() -> None:
    text = "y" * 3_000_000
    body = _stream("head ", text, eol="\r\n")
    for size in (1000, 65536, 1 << 20, len(body)):
        events = _decode([body[i : i + size] for i in range(0, len(body), size)])
        assert len(events) == 3 and events[-1] == "[DONE]"
        whole = json.loads(events[1])["choices"][0]["delta"]["content"] == text
        assert whole, size  # a flag: pytest's diff of megabyte strings crashes its reporting


def test_an_event_over_the_bound_fails_whether_its_line_ended_or_not() -> None:
    decoder = SseDecoder(max_event_bytes=1000)
    assert decoder.feed_bytes(b"data: " + b"z" * 900 + b"\n\n") == ["z" * 900]  # under: fine
    with pytest.raises(AttemptFailed, match="passed 1000 bytes") as failed:
        decoder.feed_bytes(b"data: " + b"z" * 1200)  # one line, its end not come yet
    assert not failed.value.retryable and "stream=false" in failed.value.reason
    many_lines = SseDecoder(max_event_bytes=1000)
    with pytest.raises(AttemptFailed, match="without ending"):
        for _ in range(30):  # short lines, but one event that never ends
            many_lines.feed_bytes(b"data: " + b"w" * 50 + b"\n")
    assert MAX_EVENT_BYTES == 16 * 1024 * 1024


# --- the HTTP backend against a scripted loopback server ----------------------------------------


@dataclass
class ScriptedSse:
    """Answers every POST with 200 text/event-stream and the scripted pieces, each its own HTTP
    chunk, flushed and followed by a pause, so the client's reads end where the pieces do."""

    pieces: list[bytes]
    pause_s: float = 0.02
    end: bool = True
    """Send the last chunk; False keeps the connection open after the pieces."""
    posts: int = 0
    sent: int = 0
    port: int = 0
    _stop: asyncio.Event = field(init=False)
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while line := await reader.readline():
                headers = {}
                while (raw := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                assert line.startswith(b"POST ")
                self.posts += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                for piece in self.pieces:
                    writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    await writer.drain()
                    self.sent += len(piece)
                    await asyncio.sleep(self.pause_s)
                if not self.end:
                    await self._stop.wait()
                    break
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up (as it does on an oversized event)
        except asyncio.CancelledError:
            pass  # shutting down
        finally:
            self._connections.discard(task)
            writer.close()

    async def _main(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await self._stop.wait()
        for task in self._connections:  # a connection the client left open
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    @contextmanager
    def running(self) -> Iterator[ScriptedSse]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=loop.run_until_complete, args=(self._main(ready),))
        thread.start()
        assert ready.wait(10), "scripted server did not start"
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(self._stop.set)
            thread.join(10)
            loop.close()


def _generate(server: ScriptedSse) -> Generation:
    spec = resolve_model(f"openai:{server.url}#fake?backoff=0.01&retries=2&preflight=false")
    backend = load_backend(spec, None, BackendOptions())
    assert isinstance(backend, OpenAIHttpBackend)
    request = GenerationRequest(
        request_id="r0",
        sampling=SamplingParams(max_tokens=64),
        messages=(ChatMessage("user", "say a lot"),),
    )
    try:
        [generation] = backend.generate([request])
    finally:
        backend.close()
    return generation


network = pytest.mark.network


@network
def test_a_one_megabyte_data_line_is_read() -> None:
    text = "x" * 1_000_000
    body = _stream("The answer: ", text)
    line = next(line for line in body.split(b"\n") if len(line) > 1_000_000)
    assert len(line) > AIOHTTP_LINE_LIMIT  # longer than aiohttp's line reader takes
    pieces = [body[i : i + 100_000] for i in range(0, len(body), 100_000)]
    with ScriptedSse(pieces, pause_s=0.005).running() as server:
        generation = _generate(server)
    assert generation.error is None, generation.error
    # Compared as a flag: pytest's diff of two megabyte strings crashes its own reporting.
    whole = generation.text == "The answer: " + text
    assert whole, f"{len(generation.text)} characters: {generation.text[:40]!r}..."
    assert generation.finish_reason == "stop" and server.posts == 1


@network
@pytest.mark.parametrize("eol", ["\r\n", "\r", "\n"], ids=["crlf", "cr", "lf"])
def test_lines_split_across_chunks_with_each_line_ending(eol: str) -> None:
    body = _stream("Réponse ", "à ", "42 €", eol=eol)
    # Cut inside 'data:', inside a JSON string, inside the two bytes of 'é', between CR and LF,
    # and one byte at a time over the last event.
    cuts = [3, body.index("Ré".encode()) + 2, body.index(b"[DONE]") - 2]
    if eol == "\r\n":
        cuts.append(body.index(b"\r\n") + 1)
    cuts = sorted(set(cuts))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body) - 8], strict=True)]
    pieces += [body[i : i + 1] for i in range(len(body) - 8, len(body))]
    assert b"".join(pieces) == body
    with ScriptedSse(pieces).running() as server:
        generation = _generate(server)
    assert generation.error is None, generation.error
    assert generation.text == "Réponse à 42 €"
    assert server.posts == 1


@network
def test_an_endless_event_fails_once_at_the_bound_without_retrying() -> None:
    piece = b"a" * (1 << 20)
    pieces = [b"data: "] + [piece] * (MAX_EVENT_BYTES // len(piece) + 64)
    with ScriptedSse(pieces, pause_s=0.0, end=False).running() as server:
        start = time.perf_counter()
        generation = _generate(server)
        elapsed = time.perf_counter() - start
        sent = server.sent
    assert generation.finish_reason == "error" and generation.retries == 0
    assert generation.error is not None
    assert generation.error.startswith("a stream event passed 16 MiB without ending")
    assert "stream=false" in generation.error and "internal error" not in generation.error
    assert server.posts == 1  # the same request would get the same body: not sent again
    # It stopped reading at the bound, not at the end of a body that never ends.
    assert sent < MAX_EVENT_BYTES + 32 * len(piece) and elapsed < 30
