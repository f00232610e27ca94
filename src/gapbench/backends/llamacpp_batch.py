"""Continuous batched decoding on llama.cpp's low-level API.

Decoding one token costs about as much as reading every weight once, whatever the batch holds: on
a CPU it is bound by memory bandwidth, not arithmetic. Decoding the next token of several sequences
in one `llama_decode` call therefore shares that read, and aggregate throughput grows with the
batch until compute becomes the limit (prompt processing speed is that ceiling).

`BatchedDecoder` keeps up to `n_slots` sequences in flight, each under its own KV-cache sequence
id. Every step it builds one `llama_batch` holding the pending token of each decoding sequence plus
chunks of new prompts, decodes it, samples one token per sequence that asked for logits, and
retires the sequences that finished; a freed slot is refilled from the queue on the next step
(continuous batching), so a long answer never holds the others back.

Prompts of one task share a prefix (the chat template's system turn; for base models the few-shot
examples, 190-280 of 230-325 tokens). The decoder keeps the last shared prefix in the KV cache of
one extra sequence and copies it into each newly admitted sequence, so only the rest of the prompt
is evaluated (`prefix_cache`).

The decoder owns its own `llama_context`: `Llama(...)` cannot set `n_seq_max`, and the KV cache
must be sized for all slots. The `Llama` object only lends its model weights and tokenizer.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from gapbench.backends.types import FinishReason

DEFAULT_N_BATCH = 512
"""Token budget of one decode step; longer prompts are prefilled in chunks over several steps."""

MIN_SHARED_PREFIX = 8
"""Shortest prefix worth copying. A copy moves the whole KV stream of a sequence (per_seq_ctx cells
of every layer, whatever the prefix length; 24 MiB for Qwen2.5-0.5B at 2048 cells): measured under
1 ms added to the next decode step, against 7.4 ms of prefill per prompt token saved (2 cores, a
64-token chunk), so any real prefix pays; 8 keeps a lone shared BOS or template token from costing
the extra prefix step."""


@dataclass(frozen=True)
class DecodeJob:
    """One sequence to generate, already tokenised (chat template applied by the caller)."""

    job_id: str
    """Caller's key, carried back on the DecodeResult; the decoder never reorders or merges ids."""
    prompt_tokens: list[int]
    max_tokens: int
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    """0 means greedy (argmax)."""
    seed: int = 0
    """Seed of this job's own sampler, so its draws do not depend on which jobs share the batch."""
    top_p: float = 1.0


@dataclass(frozen=True)
class DecodeResult:
    """What one job produced, with raw time.perf_counter timestamps.

    `submitted` is when `run()` received the job and `start` when it entered a slot (before its
    prompt was processed): latency from `start` measures the engine, latency from `submitted` adds
    the wait for a free slot. The caller picks which one it reports.
    """

    job_id: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    """Every sampled token, an end-of-generation one included: each cost a decode step."""
    finish_reason: FinishReason
    submitted: float
    start: float
    first_token: float | None
    end: float
    error: str | None = None
    reused_prompt_tokens: int = 0
    """Prompt tokens copied from the shared-prefix cache instead of evaluated."""


@dataclass
class _Slot:
    """A sequence in flight: its job, KV position, sampler and text so far."""

    seq_id: int
    job: DecodeJob
    submitted: float
    start: float
    max_new_tokens: int
    sampler: Any
    """A llama_sampler chain owned by this slot; freed when the slot retires."""
    n_past: int = 0
    """Tokens of this sequence already in the KV cache."""
    reused: int = 0
    """Prompt tokens copied from the shared-prefix cache."""
    pending: int | None = None
    """Last sampled token, to be decoded next step (None while the prompt is being prefilled)."""
    generated: int = 0
    first_token: float | None = None
    data: bytearray = field(default_factory=bytearray)
    stopped_at: int | None = None
    """Character offset where a stop string begins, once one appeared."""

    @property
    def prefilling(self) -> bool:
        return self.n_past < len(self.job.prompt_tokens)

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        return text if self.stopped_at is None else text[: self.stopped_at]


def context_error(prompt_tokens: int, per_seq_ctx: int) -> str | None:
    """Why a prompt cannot run in a sequence of `per_seq_ctx` tokens, or None when it can."""
    if prompt_tokens == 0:
        return "empty prompt (0 tokens): nothing to generate from"
    if prompt_tokens >= per_seq_ctx:
        return (
            f"prompt longer than context ({prompt_tokens} tokens > "
            f"{per_seq_ctx - 1} that leave room to generate)"
        )
    return None


class BatchedDecoder:
    """Continuous-batching generation over an already loaded `llama_cpp.Llama`.

    A generation is capped at the room its sequence has left (`per_seq_ctx` - prompt), ending with
    finish_reason 'length', as the sequential path does. Not thread-safe; one `run` at a time.

    With `prefix_cache` (the default) one more KV sequence holds the prompt prefix that the job
    being admitted shares with the jobs queued behind it; admitted jobs that share at least
    MIN_SHARED_PREFIX tokens with it start from a copy. The copied KV was computed in a batch of
    other shape than the job's own prefill would have been, which can flip a greedy near-tie as
    the batch's composition already can (tests/backends/test_llamacpp_batch.py measures how often).
    """

    def __init__(
        self,
        llama: Any,
        *,
        n_slots: int,
        per_seq_ctx: int,
        n_batch: int = DEFAULT_N_BATCH,
        kv_unified: bool = False,
        prefix_cache: bool = True,
    ) -> None:
        import llama_cpp
        from llama_cpp import _internals

        if n_slots < 1:
            raise ValueError(f"n_slots must be at least 1, got {n_slots}")
        if n_batch <= n_slots:
            raise ValueError(f"n_batch ({n_batch}) must exceed n_slots ({n_slots})")
        self._llama = llama
        self.n_slots = n_slots
        self.per_seq_ctx = per_seq_ctx
        self.n_batch = n_batch
        self._prefix_seq: int | None = n_slots if prefix_cache else None
        """KV sequence id holding the shared prefix (one past the slots), None when disabled."""
        self._prefix: list[int] = []
        """Tokens whose KV the prefix sequence holds now."""
        n_seqs = n_slots + (1 if prefix_cache else 0)
        params = llama_cpp.llama_context_default_params()
        for name, _ in params._fields_:  # inherit threads, KV type, flash-attn... from the Llama
            setattr(params, name, getattr(llama.context_params, name))
        params.n_ctx = per_seq_ctx * n_seqs
        params.n_seq_max = n_seqs
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.embeddings = False
        # Split KV streams (one per sequence) keep each sequence's attention over its own cells
        # only, and give every sequence exactly n_ctx / n_slots cells.
        params.kv_unified = kv_unified
        # The wrapper registers itself on the model so the context is freed before the weights.
        self._context: Any = _internals.LlamaContext(
            model=llama._model, params=params, verbose=False
        )
        self._ctx = self._context.ctx
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._batch_alive = True
        self._running = False

    # --- lifecycle

    def close(self) -> None:
        """Free the batch and the KV cache; the Llama (weights) stays the caller's."""
        import llama_cpp

        if self._batch_alive:
            llama_cpp.llama_batch_free(self._batch)
            self._batch_alive = False
        self._context.close()

    def __enter__(self) -> BatchedDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the loop

    def run(self, jobs: Iterable[DecodeJob]) -> Iterator[DecodeResult]:
        """Generate every job, yielding each result as soon as its sequence finishes.

        Results come in completion order; every job yields exactly one result, failed ones
        (prompt too long, decode error) with finish_reason 'error'.
        """
        import llama_cpp

        if self._running:
            raise RuntimeError("BatchedDecoder.run is already in progress")
        self._running = True
        submitted = time.perf_counter()
        queue = deque(jobs)
        slots: list[_Slot | None] = [None] * self.n_slots
        llama_cpp.llama_memory_clear(self._memory, True)
        self._prefix = []
        try:
            while True:
                yield from self._refill(slots, queue, submitted)
                active = [s for s in slots if s is not None]
                if not active:
                    return
                rows = self._fill_batch(active)
                status = llama_cpp.llama_decode(self._ctx, self._batch)
                if status != 0:
                    # The batch's cache state is unknown now: every sequence in it fails.
                    for slot in active:
                        yield self._retire(slots, slot, "error", f"llama_decode returned {status}")
                    continue
                now = time.perf_counter()
                for slot, row in rows:
                    finish = self._advance(slot, row, now)
                    if finish is not None:
                        yield self._retire(slots, slot, finish, None)
        finally:
            # Reached early when the caller stops iterating: free what is still in flight.
            for leftover in slots:
                if leftover is not None:
                    llama_cpp.llama_sampler_free(leftover.sampler)
            llama_cpp.llama_memory_clear(self._memory, True)
            self._prefix = []
            self._running = False

    def _refill(
        self, slots: list[_Slot | None], queue: deque[DecodeJob], submitted: float
    ) -> Iterator[DecodeResult]:
        """Put queued jobs into free slots; jobs that cannot run yield their error at once."""
        for seq_id in range(len(slots)):
            while slots[seq_id] is None and queue:
                job = queue.popleft()
                start = time.perf_counter()
                why = context_error(len(job.prompt_tokens), self.per_seq_ctx)
                if why is not None:
                    yield DecodeResult(
                        job_id=job.job_id,
                        text="",
                        prompt_tokens=len(job.prompt_tokens),
                        completion_tokens=0,
                        finish_reason="error",
                        submitted=submitted,
                        start=start,
                        first_token=None,
                        end=time.perf_counter(),
                        error=why,
                    )
                    continue
                slot = _Slot(
                    seq_id=seq_id,
                    job=job,
                    submitted=submitted,
                    start=start,
                    max_new_tokens=min(job.max_tokens, self.per_seq_ctx - len(job.prompt_tokens)),
                    sampler=_new_sampler(job),
                )
                slots[seq_id] = slot
                if self._prefix_seq is not None:
                    self._reuse_prefix(slot, queue)

    # --- shared-prefix cache

    def _reuse_prefix(self, slot: _Slot, queue: deque[DecodeJob]) -> None:
        """Start `slot` from a copy of the cached prefix when its prompt shares enough of it.

        When it does not, the prefix it shares with the next queued jobs (the other instances of
        its task, in the runner's order) becomes the cached one first.
        """
        import llama_cpp

        assert self._prefix_seq is not None
        prompt = slot.job.prompt_tokens
        # The last prompt token is always evaluated by the slot itself: it yields the first logits.
        limit = len(prompt) - 1
        shared = _common_prefix(prompt, self._prefix, limit)
        if shared < MIN_SHARED_PREFIX:
            ahead = (_common_prefix(prompt, o.prompt_tokens, limit) for o in islice(queue, 8))
            candidate = max(ahead, default=0)
            if candidate < MIN_SHARED_PREFIX or not self._load_prefix(prompt[:candidate]):
                return
            shared = candidate
        # Sequences live in separate KV streams: this copies the prefix sequence's whole stream
        # (applied at the next llama_decode), then drops what lies past the shared part.
        llama_cpp.llama_memory_seq_cp(self._memory, self._prefix_seq, slot.seq_id, -1, -1)
        if shared < len(self._prefix):
            llama_cpp.llama_memory_seq_rm(self._memory, slot.seq_id, shared, -1)
        slot.n_past = shared
        slot.reused = shared

    def _load_prefix(self, tokens: Sequence[int]) -> bool:
        """Evaluate `tokens` into the prefix sequence (no logits); False when llama.cpp fails."""
        import llama_cpp

        assert self._prefix_seq is not None
        llama_cpp.llama_memory_seq_rm(self._memory, self._prefix_seq, -1, -1)
        self._prefix = []
        batch = self._batch
        for begin in range(0, len(tokens), self.n_batch):
            chunk = tokens[begin : begin + self.n_batch]
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = begin + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = self._prefix_seq
                batch.logits[i] = False
            batch.n_tokens = len(chunk)
            if llama_cpp.llama_decode(self._ctx, batch) != 0:
                llama_cpp.llama_memory_seq_rm(self._memory, self._prefix_seq, -1, -1)
                return False
        self._prefix = list(tokens)
        return True

    def _fill_batch(self, active: list[_Slot]) -> list[tuple[_Slot, int]]:
        """Load this step's tokens into the llama_batch; returns (slot, row) pairs that get logits.

        Decode tokens go first (one per sequence, never starved); prompt chunks use the budget
        left, so a long prompt is prefilled over several steps while the others keep decoding.
        """
        batch = self._batch
        batch.n_tokens = 0
        rows: list[tuple[_Slot, int]] = []

        def add(token: int, slot: _Slot, logits: bool) -> None:
            i = batch.n_tokens
            batch.token[i] = token
            batch.pos[i] = slot.n_past
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = slot.seq_id
            batch.logits[i] = logits
            batch.n_tokens = i + 1
            slot.n_past += 1
            if logits:
                rows.append((slot, i))

        for slot in active:
            if slot.pending is not None:
                add(slot.pending, slot, True)
                slot.pending = None
        for slot in active:
            prompt = slot.job.prompt_tokens
            while slot.prefilling and batch.n_tokens < self.n_batch:
                add(prompt[slot.n_past], slot, slot.n_past == len(prompt) - 1)
        return rows

    def _advance(self, slot: _Slot, row: int, now: float) -> FinishReason | None:
        """Sample the slot's next token from batch row `row`; the finish reason once it is done."""
        import llama_cpp

        token = llama_cpp.llama_sampler_sample(slot.sampler, self._ctx, row)
        slot.generated += 1
        if slot.first_token is None:
            slot.first_token = now
        if llama_cpp.llama_vocab_is_eog(self._vocab, token):
            return "stop"
        slot.data += self._llama.detokenize([token], special=False)
        if slot.job.stop and _find_stop(slot):
            return "stop"
        if slot.generated >= slot.max_new_tokens:
            return "length"
        slot.pending = token
        return None

    def _retire(
        self, slots: list[_Slot | None], slot: _Slot, finish: FinishReason, error: str | None
    ) -> DecodeResult:
        """Free the slot's KV sequence and sampler, and make its result."""
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
        llama_cpp.llama_sampler_free(slot.sampler)
        slots[slot.seq_id] = None
        return DecodeResult(
            job_id=slot.job.job_id,
            text="" if error else slot.text(),
            prompt_tokens=len(slot.job.prompt_tokens),
            completion_tokens=slot.generated,
            finish_reason=finish,
            submitted=slot.submitted,
            start=slot.start,
            first_token=slot.first_token,
            end=time.perf_counter(),
            error=error,
            reused_prompt_tokens=slot.reused,
        )


def _common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    """Length of the common prefix of `a` and `b`, at most `limit`."""
    n = min(len(a), len(b), limit)
    for i in range(n):
        if a[i] != b[i]:
            return i
    return max(0, n)


def _find_stop(slot: _Slot) -> bool:
    """Record where the earliest stop string begins; True once one has appeared."""
    # A multi-byte character may be split across tokens: decode only what is complete so far.
    text = slot.data.decode("utf-8", errors="ignore")
    hits = [i for i in (text.find(s) for s in slot.job.stop if s) if i >= 0]
    if hits:
        slot.stopped_at = min(hits)
        return True
    return False


def _new_sampler(job: DecodeJob) -> Any:
    """A per-job llama.cpp sampler chain; mirrors what `Llama.generate` builds for these settings.

    Sampling runs in C over the whole vocabulary, so it costs microseconds per token rather than
    the milliseconds a Python loop over 150k logits would.
    """
    import llama_cpp

    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    if job.temperature <= 0:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    if job.top_p < 1.0:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(job.top_p, 1))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(job.temperature))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(job.seed))
    return chain
