"""Typed records that go in and out of the results store.

A sample's identity is its `SampleKey`: change any part of it (a new task version, other sampling
settings, another seed) and it is a different sample, stored beside the old one, never over it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

RunStatus = Literal["running", "completed", "interrupted", "failed"]
FINAL_STATUSES: tuple[RunStatus, ...] = ("completed", "interrupted", "failed")


def settings_hash(sampling: dict[str, object], prompt_style: str) -> str:
    """First 16 hex digits of the sha256 of the canonical JSON of the generation settings.

    Canonical means sorted keys, no whitespace, UTF-8: the same settings always hash the same,
    whatever order they were built in. Types matter (0 and 0.0 differ), so build `sampling` from
    one place (SamplingParams.as_dict) rather than by hand.
    """
    canonical = json.dumps(
        {"prompt_style": prompt_style, "sampling": sampling},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """Provenance of one `gapbench run` invocation for one model: enough to tell later exactly
    what produced its samples."""

    gapbench_version: str
    model_id: str
    backend: str
    """Registered backend name, e.g. 'llamacpp'."""
    engine_version: str
    """Version of the engine under the backend, e.g. llama-cpp-python's."""
    sampling: dict[str, object]
    """Generation settings; stored as canonical JSON."""
    settings_hash: str
    """`settings_hash(sampling, prompt_style)`: ties the run to its samples."""
    model_sha256: str | None = None
    threads: int | None = None
    batch_size: int = 1
    device: str = ""
    """CPU/GPU description."""
    command: str = ""
    """The CLI argv that started the run, joined as a shell-quoted string."""
    created_at: float = 0.0
    """Unix time; the store sets it when it is 0."""


@dataclass(frozen=True)
class RunMeasures:
    """What a run measured about itself as a whole, recorded when it finishes."""

    generation_seconds: float
    """Wall time spent generating (model loading excluded): the basis of local cost and of
    aggregate throughput, which per-sample latencies overstate when requests run in parallel."""
    peak_rss_mb: float | None = None
    """Peak resident memory of the process while this model was loaded and running."""
    latency_seconds: float | None = None
    """Summed latency of every generation the run made, stored or not (failed ones, and any that
    another run had stored first): what generation_seconds is shared among, so a run's wall
    time is charged only to its own work."""
    generations: int | None = None
    """How many generations the run made (None for runs stored by an older gapbench)."""


@dataclass(frozen=True)
class RunHolder:
    """The process running a run, as recorded when it started: what tells, later, whether it is
    still alive (see store/leases.py)."""

    host: str
    """Host identity: the host name, the kernel's boot id and the process-id namespace, so that
    a pid is only ever compared with the processes of the machine and boot that issued it."""
    pid: int
    process_started: str
    """When the process started, as the kernel counts it ('' where it cannot be read): a pid
    reused by a later process does not pass for the run's."""
    lease_expires_at: float | None
    """Unix time until which the run's claims hold; renewed while the process lives."""


@dataclass(frozen=True)
class RunRow:
    """A stored run: its provenance plus what the store knows about it."""

    id: int
    info: RunInfo
    status: RunStatus
    finished_at: float | None
    measures: RunMeasures | None = None
    """What the run measured so far (it records them as it goes, so a killed run keeps most);
    None for a run stored by an older gapbench that never finished."""
    holder: RunHolder | None = None
    """None for runs stored by an older gapbench."""

    @property
    def created_at(self) -> float:
        return self.info.created_at


@dataclass(frozen=True)
class SampleKey:
    """Everything that makes one sample distinct. UNIQUE in the store."""

    model_id: str
    task: str
    task_version: str
    seed: int
    index: int
    difficulty: str
    settings_hash: str
    draw: int = 0
    """Which of the samples drawn for the same instance under the same settings this is (0 for
    the first): pass@k needs several draws per instance, and each is a sample of its own."""


@dataclass(frozen=True, kw_only=True)
class SampleRecord:
    """One scored generation: what was asked, what came back, and the verdict."""

    key: SampleKey
    run_id: int
    """The run that produced it (a later run that retries a failed sample takes it over)."""
    prompt: str
    """The full prompt text, or the JSON of the chat messages."""
    output: str
    extracted: str | None
    """The answer read from the output, normalised; None when extraction failed."""
    extraction_ok: bool
    correct: bool
    reference: str
    """The reference answer."""
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    latency_s: float
    reasoning: str | None = None
    ttft_s: float | None = None
    error: str | None = None
    """Why the generation failed; a failed sample is retried by the next run."""
    created_at: float = 0.0
    """Unix time; the store sets it when it is 0."""
    reasoning_tokens: int | None = None
    """Tokens an API reported as reasoning (part of completion_tokens), when it reports them."""
    retries: int = 0
    """Requests retried before this generation came back (HTTP backends)."""
    prompt_style: str | None = None
    """How the prompt was built: 'chat' (the task's own answer-line instruction), 'chat-reasoning'
    (reason step by step, answer in \\boxed{}), with '-vK' for phrasing K of --prompt-variants, or
    'fewshot-K' for base models. None only for samples of old runs that did not record it."""
    prompt_variant: int = 0
    """Which phrasing of the prompt style (0 is the canonical one)."""
    score_method: str | None = None
    """How the answer was read, or why none was ('answer-line', 'boxed', 'repetition-loop',
    'truncated-no-answer', 'fenced:timeout', ...); None for samples stored before it was kept."""

    @property
    def ok(self) -> bool:
        """True when the generation succeeded (right or wrong), so it counts and is not retried."""
        return self.error is None
