"""Records that cross the backend boundary: what we ask a model, and what came back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "error"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class SamplingParams:
    """Generation settings. Part of a sample's identity: change one and it is a different sample."""

    temperature: float = 0.0
    """0 means greedy decoding, the default, so that runs are reproducible."""
    top_p: float = 1.0
    max_tokens: int = 256
    """Cap on completion tokens; a generation that hits it ends with finish_reason 'length'."""
    seed: int = 0
    """Sampler seed, used only when temperature > 0."""
    stop: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "stop": list(self.stop),
        }


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt. Exactly one of `messages` (chat, instruct models) or `prompt` (completion, base
    models) is set."""

    request_id: str
    """Caller's key; the Generation carries it back so batched outputs are never mixed up."""
    sampling: SamplingParams
    messages: tuple[ChatMessage, ...] | None = None
    prompt: str | None = None

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("GenerationRequest needs exactly one of messages or prompt")


@dataclass(frozen=True)
class Timing:
    """Raw timestamps (time.perf_counter seconds) of one generation; metrics derive from these."""

    start: float
    end: float
    first_token: float | None = None
    """When the first completion token came; None if there was none or it was not observable."""

    @property
    def latency_s(self) -> float:
        return self.end - self.start

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.start


@dataclass(frozen=True)
class Generation:
    """What a backend produced for one request. A failed request still yields a Generation, with
    finish_reason 'error' and `error` saying why, so no sample is ever silently lost."""

    request_id: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    timing: Timing
    error: str | None = None
    reasoning: str | None = None
    """Reasoning kept apart from the answer (e.g. a <think> block or an API's reasoning_content)."""
    reasoning_tokens: int | None = None
    """Completion tokens spent on reasoning, when the engine reports them (an API's
    usage.completion_tokens_details.reasoning_tokens); None when unknown."""
    retries: int = 0
    """Attempts beyond the first that this request needed (HTTP backends retry 429s, 5xx...)."""

    @classmethod
    def failed(
        cls, request_id: str, start: float, why: str, *, prompt_tokens: int = 0, retries: int = 0
    ) -> Generation:
        """A request that produced nothing, ending now: stored as failed so a rerun retries it."""
        return cls(
            request_id=request_id,
            text="",
            prompt_tokens=prompt_tokens,
            completion_tokens=0,
            finish_reason="error",
            timing=Timing(start=start, end=time.perf_counter()),
            error=why,
            retries=retries,
        )


@dataclass(frozen=True)
class BackendInfo:
    """Provenance of the engine that produced a run's generations."""

    backend: str
    """Registered backend name, e.g. 'llamacpp' or 'scripted'."""
    engine_version: str
    model_sha256: str | None = None
    threads: int | None = None
    batch_size: int = 1
    device: str = ""
    """CPU/GPU description, e.g. 'AMD EPYC 7B13 (2 cores)'."""
    extra: dict[str, str] = field(default_factory=dict)
