"""llama.cpp in process, through llama-cpp-python.

Requests are decoded one after another with `Llama.generate`, a token-level loop, rather than
`create_completion`: driving the loop ourselves gives exact prompt and completion token counts and a
real time-to-first-token, which streamed text chunks do not (they merge tokens and hold text back
while a stop string might be forming).

The work is split so a batching engine can replace only the decode loop: `_prepare` (chat template,
tokenisation, context check) and `_CompletionText` (detokenisation, stop strings) are per-sequence
and stay as they are; `_decode_one` is the part a continuous-batching scheduler would replace.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gapbench.backends.types import (
    BackendInfo,
    FinishReason,
    Generation,
    GenerationRequest,
    Timing,
)
from gapbench.errors import ModelFileError

if TYPE_CHECKING:
    from gapbench.backends.registry import BackendOptions
    from gapbench.catalog.types import ModelSpec

# llama.cpp's OpenMP threads spin while they wait for each other by default. With as many
# threads as cores, any other busy process (a second run, a test, the OS) stalls them: measured on
# 2 cores, decoding fell up to 30x. Passive waiting costs little when the machine is idle. Must be
# set before llama_cpp loads its library; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def preflight(spec: ModelSpec) -> None:
    """A local file given by path must be a readable GGUF before the run starts (a catalog model
    is pulled on first use instead)."""
    if spec.local_path is not None:
        from gapbench.catalog.pull import resolve_file

        resolve_file(spec)


AUTO_BATCH_SIZE = 16
"""Slots of the continuous-batching decoder when the user does not choose (`--batch-size auto`).
Measured on 2 cores with Qwen2.5-Coder-0.5B (docs/benchmarks.md, "Faster samples by default"):
one decode step of N sequences gives 33 tokens/s at 1, 90 at 8, 155-161 at 16 and 165-175 at
24-48 (from 16 rows on the step is compute-bound); end to end, 16 slots finished 40 reasoning
prompts in 107 s against 122 s for 8, and 100 prompts in 227 s against 366 s, the drain at the
end of a run included. More than 16 buys little for twice the KV memory."""

KV_MEMORY_SHARE = 0.25
"""Share of the memory available at load time that the automatic batch size lets the KV cache
take, so that a large model's cache (Llama-3-8B: 256 MiB per 2048-token sequence) never pushes the
machine into swap."""

# ctypes callbacks must outlive their registration or llama.cpp calls freed memory.
_SILENT_LOG_CALLBACK: Any = None


def _set_engine_logging(verbose: bool) -> None:
    """Route llama.cpp's own log lines: to stderr when verbose, else nowhere.

    llama-cpp-python's `verbose=False` still prints errors (e.g. a failed load's reasons) before
    raising; we report those failures ourselves in one sentence, so the noise is dropped.
    """
    global _SILENT_LOG_CALLBACK
    import llama_cpp
    from llama_cpp import _logger

    if verbose:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
        return
    if _SILENT_LOG_CALLBACK is None:

        def _drop(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            del level, text, user_data

        _SILENT_LOG_CALLBACK = llama_cpp.llama_log_callback(_drop)
    llama_cpp.llama_log_set(_SILENT_LOG_CALLBACK, ctypes.c_void_p(0))


def _error_generation(
    request: GenerationRequest, start: float, prompt_tokens: int, why: str
) -> Generation:
    return Generation.failed(request.request_id, start, why, prompt_tokens=prompt_tokens)


@dataclass
class _Prepared:
    """A request turned into tokens, ready to decode."""

    request: GenerationRequest
    start: float
    tokens: list[int]
    stop: tuple[str, ...]
    max_new_tokens: int
    """max_tokens capped by the room left in the context."""


@dataclass
class _CompletionText:
    """Accumulates one sequence's generated tokens as text and watches for stop strings."""

    llama: Any
    stop: tuple[str, ...]
    tokens: list[int] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    stopped_at: int | None = None
    """Character offset where a stop string begins, once one has appeared."""

    def add(self, token: int) -> bool:
        """Append a token; True when a stop string has now appeared in the text."""
        self.tokens.append(token)
        self.data += self.llama.detokenize([token], special=False)
        if not self.stop:
            return False
        # A multi-byte character split across tokens decodes as one trailing U+FFFD until its
        # last byte arrives; offsets before it are stable, so a stop string found there is final.
        text = self.data.decode("utf-8", errors="replace")
        hits = [i for i in (text.find(s) for s in self.stop if s) if i >= 0]
        if hits:
            self.stopped_at = min(hits)
            return True
        return False

    @property
    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        return text if self.stopped_at is None else text[: self.stopped_at]


class LlamaCppBackend:
    """A GGUF model loaded in this process. Implements the Backend protocol."""

    def __init__(
        self,
        model_path: Path,
        *,
        chat: bool,
        context_per_sequence: int,
        threads: int,
        batch_size: int | None = 1,
        seed: int = 0,
        verbose: bool = False,
        model_sha256: str | None = None,
        model_id: str | None = None,
    ) -> None:
        import llama_cpp

        self.model_path = Path(model_path)
        self.chat = chat
        self.context_per_sequence = context_per_sequence
        self.threads = threads
        self.seed = seed
        self.model_sha256 = model_sha256
        self._model_id = model_id
        self._check_file()
        _set_engine_logging(verbose)
        load_start = time.perf_counter()
        try:
            # This context serves --batch-size 1 (one sequence at a time); the batched decoder
            # makes its own, sized for all its slots.
            self._llama: Any = llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=context_per_sequence,
                n_batch=min(512, context_per_sequence),
                n_threads=threads,
                n_threads_batch=threads,
                seed=seed,
                logits_all=False,
                verbose=verbose,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise self._file_error("llama.cpp cannot load it") from exc
        self.load_seconds = time.perf_counter() - load_start
        self.batch_size_auto = batch_size is None
        """Whether the batch size was chosen here (None given) rather than by the user."""
        self.batch_size: int = (
            batch_size
            if batch_size is not None
            else auto_batch_size(kv_bytes_per_sequence(self._llama, context_per_sequence))
        )
        self._decoder: Any = None
        """The continuous-batching decoder, created on first use when batch_size > 1."""
        self._vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
        self.template_source = "none (completion prompts)"
        self._formatter = self._chat_formatter() if chat else None

    # --- loading

    def _file_error(self, what: str) -> ModelFileError:
        fix = (
            f"re-run `gapbench models pull {self._model_id}` to fetch it again"
            if self._model_id
            else "check the path, or download the file again"
        )
        return ModelFileError(f"Model file {self.model_path} is unusable ({what}); {fix}.")

    def _check_file(self) -> None:
        """Fail with one clear sentence before llama.cpp sees a missing or truncated file."""
        from gapbench.catalog.gguf import validate_gguf

        if not self.model_path.is_file():
            raise self._file_error("file not found")
        validate_gguf(self.model_path, model_id=self._model_id)

    def _chat_formatter(self) -> Any:
        """The GGUF's own chat template (what the model was trained with), ChatML if it has none.

        Returns a callable `(messages=[...]) -> ChatFormatterResponse`.
        """
        from llama_cpp import llama_chat_format

        llama = self._llama
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            self.template_source = "chatml (fallback: no template in the GGUF)"
            return llama_chat_format.format_chatml
        self.template_source = "gguf"

        def token_text(token_id: int) -> str:
            # Same lookup llama-cpp-python does for its own template handler.
            return str(llama._model.token_get_text(token_id)) if token_id != -1 else ""

        return llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=token_text(llama.token_eos()),
            bos_token=token_text(llama.token_bos()),
        )

    # --- per-sequence preparation

    def _render(self, request: GenerationRequest) -> tuple[list[int], tuple[str, ...]]:
        """Prompt tokens and extra stop strings for a request."""
        llama = self._llama
        if request.messages is not None:
            if self._formatter is None:
                # A base model has no chat format: join the turns as plain text.
                text = "\n\n".join(m.content for m in request.messages)
                return llama.tokenize(text.encode("utf-8"), add_bos=True, special=False), ()
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
            result = self._formatter(messages=messages)
            # The template writes BOS itself when the model wants one ('added_special').
            tokens = llama.tokenize(
                result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
            )
            extra_stop = result.stop if isinstance(result.stop, list) else [result.stop]
            return tokens, tuple(s for s in extra_stop if s)
        assert request.prompt is not None
        return llama.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=False), ()

    def _prepare(self, request: GenerationRequest, start: float) -> _Prepared | Generation:
        """Tokenise and check against the context; an error Generation when it cannot run."""
        try:
            tokens, extra_stop = self._render(request)
        except Exception as exc:  # a template that raises is this request's failure, not the run's
            return _error_generation(request, start, 0, f"cannot format the prompt: {exc}")
        room = self.context_per_sequence - len(tokens)
        if room < 1:
            return _error_generation(
                request,
                start,
                len(tokens),
                f"prompt longer than context ({len(tokens)} tokens > "
                f"{self.context_per_sequence - 1} that leave room to generate)",
            )
        return _Prepared(
            request=request,
            start=start,
            tokens=tokens,
            stop=tuple(dict.fromkeys((*request.sampling.stop, *extra_stop))),
            max_new_tokens=min(request.sampling.max_tokens, room),
        )

    # --- decoding

    def _sampler_args(self, request: GenerationRequest) -> dict[str, Any]:
        sampling = request.sampling
        if sampling.temperature <= 0:
            return {"temp": 0.0, "top_k": 1, "top_p": 1.0, "min_p": 0.0}
        # Plain temperature + nucleus sampling; llama.cpp's extra default filters (top_k 40,
        # min_p 0.05) are switched off so the settings mean what SamplingParams says.
        return {"temp": sampling.temperature, "top_k": 0, "top_p": sampling.top_p, "min_p": 0.0}

    def _decode_one(self, job: _Prepared) -> Generation:
        """Run one prepared sequence to completion."""
        import llama_cpp

        llama = self._llama
        request = job.request
        llama.set_seed(request.sampling.seed)
        completion = _CompletionText(llama, job.stop)
        first_token: float | None = None
        finish: FinishReason = "length"
        # Every sampled token counts, the end-of-generation one included: each cost a decode step.
        generated = 0
        # Start from an empty KV cache: reusing a cached prefix evaluates the rest of the prompt in
        # different batch shapes, which can flip a greedy token, and then a sample's output would
        # depend on which request ran before it.
        llama.reset()
        try:
            for token in llama.generate(
                job.tokens, repeat_penalty=1.0, **self._sampler_args(request)
            ):
                generated += 1
                if first_token is None:
                    first_token = time.perf_counter()
                if llama_cpp.llama_vocab_is_eog(self._vocab, token) or completion.add(token):
                    finish = "stop"
                    break
                if generated >= job.max_new_tokens:
                    break
        except Exception as exc:  # a decode failure ends this request only
            return _error_generation(request, job.start, len(job.tokens), f"llama.cpp: {exc}")
        end = time.perf_counter()
        return Generation(
            request_id=request.request_id,
            text=completion.text,
            prompt_tokens=len(job.tokens),
            completion_tokens=generated,
            finish_reason=finish,
            timing=Timing(start=job.start, end=end, first_token=first_token),
        )

    # --- Backend protocol

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[Generation]:
        """Decode the requests one after another (batch_size 1) or `batch_size` at a time through
        the continuous-batching decoder, yielding each Generation as soon as it is done."""
        if self.batch_size > 1:
            yield from self._generate_batched(requests)
            return
        for request in requests:
            start = time.perf_counter()
            job = self._prepare(request, start)
            yield job if isinstance(job, Generation) else self._decode_one(job)

    def _generate_batched(self, requests: Sequence[GenerationRequest]) -> Iterator[Generation]:
        from gapbench.backends.llamacpp_batch import BatchedDecoder, DecodeJob

        prepared: list[_Prepared] = []
        for request in requests:
            job = self._prepare(request, time.perf_counter())
            if isinstance(job, Generation):
                yield job
            else:
                prepared.append(job)
        if self._decoder is None:
            self._decoder = BatchedDecoder(
                self._llama, n_slots=self.batch_size, per_seq_ctx=self.context_per_sequence
            )
        # Job ids are positions in `prepared`, so duplicate request ids can never be mixed up.
        jobs = [
            DecodeJob(
                job_id=str(i),
                prompt_tokens=p.tokens,
                max_tokens=p.max_new_tokens,
                stop=p.stop,
                temperature=p.request.sampling.temperature,
                seed=p.request.sampling.seed,
                top_p=p.request.sampling.top_p,
            )
            for i, p in enumerate(prepared)
        ]
        for result in self._decoder.run(jobs):
            yield Generation(
                request_id=prepared[int(result.job_id)].request.request_id,
                text=result.text,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                finish_reason=result.finish_reason,
                # Latency counts from when the request got a slot, not the wait for one.
                timing=Timing(start=result.start, end=result.end, first_token=result.first_token),
                error=result.error,
            )

    def info(self) -> BackendInfo:
        """Engine version, threads and machine, stored with the run."""
        import llama_cpp

        from gapbench.backends.hardware import describe_device

        extra = {
            "n_ctx": str(self.context_per_sequence),
            "load_s": f"{self.load_seconds:.3f}",
            "batch_size_choice": "auto" if self.batch_size_auto else "set",
        }
        if self.chat:
            extra["chat_template"] = self.template_source
        return BackendInfo(
            backend="llamacpp",
            engine_version=f"llama-cpp-python {llama_cpp.__version__}",
            model_sha256=self.model_sha256,
            threads=self.threads,
            batch_size=self.batch_size,
            device=describe_device(),
            extra=extra,
        )

    def close(self) -> None:
        """Free the model and its KV cache now rather than at garbage collection."""
        decoder = getattr(self, "_decoder", None)
        if decoder is not None:  # its KV cache goes before the weights it points into
            decoder.close()
            self._decoder = None
        llama = getattr(self, "_llama", None)
        if llama is not None:
            llama.close()
            self._llama = None


def kv_bytes_per_sequence(llama: Any, per_seq_ctx: int) -> int:
    """Bytes of f16 KV cache (llama.cpp's default type) of one sequence of `per_seq_ctx` tokens."""
    import llama_cpp

    model = llama.model
    n_layer = int(llama_cpp.llama_model_n_layer(model))
    n_head = max(1, int(llama_cpp.llama_model_n_head(model)))
    n_head_kv = int(llama_cpp.llama_model_n_head_kv(model))
    n_embd = int(llama_cpp.llama_model_n_embd(model))
    arch = llama.metadata.get("general.architecture", "")
    # Some models' heads are wider than n_embd / n_head (Gemma 3: 256 against 640 / 4).
    key = int(llama.metadata.get(f"{arch}.attention.key_length", n_embd // n_head))
    value = int(llama.metadata.get(f"{arch}.attention.value_length", key))
    return per_seq_ctx * n_layer * n_head_kv * (key + value) * 2


def auto_batch_size(kv_per_sequence: int, available: int | None = None) -> int:
    """AUTO_BATCH_SIZE, or fewer slots when their KV cache (one more sequence for the shared
    prefix) would take over KV_MEMORY_SHARE of the memory available now."""
    from gapbench.backends.hardware import available_ram_bytes

    free = available_ram_bytes() if available is None else available
    if free is None or kv_per_sequence <= 0:
        return AUTO_BATCH_SIZE
    fits = int(free * KV_MEMORY_SHARE) // kv_per_sequence - 1
    return max(1, min(AUTO_BATCH_SIZE, fits))


def _model_sha256(spec: ModelSpec, path: Path) -> str:
    """The weights' sha256 for provenance: the catalog's (checked when pulled) or, for a local
    file the catalog does not know, hashed now."""
    for source in spec.sources:
        if source.sha256:
            return source.sha256
    from gapbench.catalog.hashing import sha256_file

    return sha256_file(path)


def create(spec: ModelSpec, model_path: Path | None, options: BackendOptions) -> LlamaCppBackend:
    """Registry factory: load `model_path` (the resolved GGUF of `spec`) with `options`."""
    from gapbench.errors import UsageError

    path = model_path or (Path(spec.local_path) if spec.local_path else None)
    if path is None:
        raise UsageError(
            f"Model '{spec.id}' has no local file; run `gapbench models pull {spec.id}` first."
        )
    return LlamaCppBackend(
        path,
        chat=spec.kind == "instruct",
        context_per_sequence=options.context_per_sequence(spec),
        threads=options.resolved_threads(),
        batch_size=options.batch_size,
        seed=options.seed,
        verbose=options.verbose,
        model_sha256=_model_sha256(spec, path),
        model_id=None if spec.local_path else spec.id,
    )
