"""Reading OpenAI-style answers: Server-Sent Events framing and the chunks of a streamed chat or
text completion, accumulated into one answer. No I/O: the HTTP backend feeds the body's bytes in,
in whatever pieces the network delivers them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from gapbench.backends.http_retry import AttemptFailed

DONE = "[DONE]"

MAX_EVENT_BYTES = 16 * 1024 * 1024
"""The most one event (its data lines, and a line still waiting for its end) may hold. The
largest event a real server sends is one chunk carrying a whole answer: 128k tokens of text is
about 0.5 MB, six times that when JSON escapes every character as \\uXXXX, twice again with the
reasoning; 16 MiB is several times that. Past it the body is not an event stream at all (no line
ends), and buffering on would hold unbounded memory for each request in flight."""

_LINE_END = re.compile(rb"\r\n|\r|\n")


class StreamInterrupted(AttemptFailed):
    """The server ended the stream itself, with [DONE], before the answer had a finish_reason:
    it interrupted the answer on purpose (llama-cpp-python's server does so whenever another
    request waits), so sending it again the same way is cut the same way."""

    def __init__(self) -> None:
        super().__init__("the server ended the stream before the answer finished", retryable=False)


class EventTooLarge(AttemptFailed):
    """An event passed MAX_EVENT_BYTES: the same request would get the same body again."""

    def __init__(self, limit: int) -> None:
        mib, rest = divmod(limit, 1024 * 1024)
        size = f"{mib} MiB" if mib and not rest else f"{limit} bytes"
        super().__init__(
            f"a stream event passed {size} without ending (gapbench's bound "
            "on one event, so a body that is not an event stream cannot fill the memory); "
            "add stream=false to the model reference to take the answer as one JSON response",
            retryable=False,
        )


class SseDecoder:
    """Turns an event stream into the data of each event (WHATWG SSE framing: lines end with
    CRLF, LF or CR; 'data:' lines are joined by newlines, an event ends at a blank line; comments
    and other fields are ignored).

    Lines are split here, not by the HTTP client: aiohttp's line reader gives up on a line over
    its buffer limit (512 KiB in 3.14), which a server sending a whole answer in one event
    passes. Bytes are split before they are decoded, and no line end occurs inside a UTF-8
    sequence, so a character cut between two reads stays whole."""

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self._data: list[str] = []
        self._data_bytes = 0
        self._line = bytearray()
        """The start of a line whose end has not arrived yet."""
        self._after_cr = False
        """The last piece ended with CR: an LF starting the next one belongs to it (CRLF)."""
        self._max = MAX_EVENT_BYTES if max_event_bytes is None else max_event_bytes

    def feed_bytes(self, piece: bytes) -> list[str]:
        """Some bytes of the body, cut anywhere; returns the data of the events they complete."""
        events: list[str] = []
        start = 1 if self._after_cr and piece.startswith(b"\n") else 0
        if piece:
            self._after_cr = False
        for match in _LINE_END.finditer(piece, start):
            self._line += piece[start : match.start()]
            self._check_size(len(self._line))
            line = self._line.decode("utf-8", errors="replace")
            self._line.clear()
            events += self.feed(line)
            start = match.end()
            self._after_cr = start == len(piece) and match.group() == b"\r"
        self._line += piece[start:]
        self._check_size(len(self._line))
        return events

    def feed(self, line: str) -> list[str]:
        """One line without its line end; returns the data of any event it completes."""
        if not line:
            return self.flush()
        if line.startswith(":"):
            return []
        name, _, value = line.partition(":")
        if name == "data":
            value = value[1:] if value.startswith(" ") else value
            self._data.append(value)
            self._data_bytes += len(value) + 1
            self._check_size(0)
        return []

    def flush(self) -> list[str]:
        """The pending event at end of stream (some servers omit the final blank line, and even
        the last line end)."""
        if self._line:
            line = self._line.decode("utf-8", errors="replace")
            self._line.clear()
            self.feed(line)
        if not self._data:
            return []
        data, self._data, self._data_bytes = "\n".join(self._data), [], 0
        return [data]

    def _check_size(self, pending_line: int) -> None:
        # Characters, not bytes, for the data already decoded: close enough for a bound.
        if self._data_bytes + pending_line > self._max:
            raise EventTooLarge(self._max)


def parse_json(data: str | bytes, where: str) -> dict[str, Any]:
    """A JSON object, or a retryable failure naming where the bad JSON came from."""
    try:
        value = json.loads(data)
    except ValueError:
        raise AttemptFailed(f"malformed JSON in the {where}", retryable=True) from None
    if not isinstance(value, dict):
        raise AttemptFailed(f"the {where} is JSON but not an object", retryable=True)
    return value


def error_message(payload: dict[str, Any]) -> str | None:
    """The message of an OpenAI-style {"error": {...}} payload, if it is one."""
    error = payload.get("error")
    if error is None:
        return None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)
    return str(error)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass
class Answer:
    """An answer being assembled, from one full response or from stream chunks."""

    text_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    first_token_at: float | None = None
    token_chunks: int = 0
    """Chunks that carried text: the completion-token count when the server sends no usage."""
    saw_choice: bool = False
    done: bool = False
    """The stream ended with [DONE]."""

    def add_choice(self, choice: dict[str, Any], now: float | None) -> None:
        """Add a choice of a full response ('message'/'text') or of a chunk ('delta'/'text')."""
        self.saw_choice = True
        part = choice.get("delta") or choice.get("message")
        if isinstance(part, dict):
            text = _text(part.get("content"))
            # DeepSeek and most Chinese APIs name it reasoning_content; vLLM's newer parsers and
            # OpenRouter say reasoning.
            reasoning = _text(part.get("reasoning_content")) or _text(part.get("reasoning"))
        else:
            text, reasoning = _text(choice.get("text")), ""
        if text or reasoning:
            self.token_chunks += 1
            if self.first_token_at is None and now is not None:
                self.first_token_at = now
        if text:
            self.text_parts.append(text)
        if reasoning:
            self.reasoning_parts.append(reasoning)
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])

    def add_chunk(self, payload: dict[str, Any], now: float) -> None:
        """Add one streamed chunk (already parsed JSON)."""
        message = error_message(payload)
        if message is not None:
            raise AttemptFailed(f"the server sent an error mid-stream: {message}", retryable=True)
        choices = payload.get("choices") or []
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            self.add_choice(choices[0], now)
        if isinstance(payload.get("usage"), dict):
            self.usage = payload["usage"]

    def check_stream_complete(self) -> None:
        """Fail a stream that was cut short or carried no answer: retryably when the connection
        broke, not when the server itself closed the stream on an unfinished answer."""
        if not self.saw_choice:
            raise AttemptFailed("the stream carried no choices", retryable=True)
        if self.finish_reason is None:
            if self.done:
                # Every server we know ends a finished answer's last choice with a
                # finish_reason; accepting this text would score half an answer.
                raise StreamInterrupted()
            raise AttemptFailed("the stream ended before the answer was complete", retryable=True)

    @classmethod
    def from_response(cls, payload: dict[str, Any]) -> Answer:
        """Read a complete (non-streamed) response."""
        message = error_message(payload)
        choices = payload.get("choices")
        if message is not None and not choices:
            raise AttemptFailed(f"the server answered with an error: {message}", retryable=True)
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise AttemptFailed("the response had no choices", retryable=True)
        answer = cls()
        answer.add_choice(choices[0], None)
        if isinstance(payload.get("usage"), dict):
            answer.usage = payload["usage"]
        answer.finish_reason = answer.finish_reason or "stop"
        return answer

    # --- results

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def reasoning(self) -> str | None:
        return "".join(self.reasoning_parts) or None

    def token_counts(self) -> tuple[int, int, int | None]:
        """(prompt, completion, reasoning) tokens from usage; completion falls back to the number
        of text-bearing chunks (one token each on llama.cpp and vLLM) when usage is missing."""
        usage = self.usage or {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        details = usage.get("completion_tokens_details")
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
        return (
            prompt if isinstance(prompt, int) else 0,
            completion if isinstance(completion, int) else self.token_chunks,
            reasoning if isinstance(reasoning, int) else None,
        )
