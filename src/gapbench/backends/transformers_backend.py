"""Hugging Face transformers in process (optional extra 'hf'): PyTorch models, CPU or CUDA.

Loads a directory written by `save_pretrained` (or a Hub repo id, or a GGUF file, which transformers
dequantises to float weights) and decodes `batch_size` requests at a time with `model.generate`.
Prompts are padded on the left with an attention mask, so every row's last prompt token sits in the
last column and one forward pass makes the next token of all rows.

A stopping criterion, `_StepWatch`, runs after every decoding step: it stamps the first token's time
and ends each row on its own, at an end-of-sequence token, a stop string or the row's own token cap
(the batch runs to the largest cap). Its record gives exact completion token counts and each row's
end time, with no guessing from padding afterwards. Timing per row: `start` is when its batch began
(tokenisation included); `first_token` is when the batch's first step ended (prefill + one token,
shared by the whole batch, since one forward pass makes them all); `end` is when the row finished.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gapbench.backends.transformers_files import local_model_spec, max_positions, weights_sha256
from gapbench.backends.types import (
    BackendInfo,
    FinishReason,
    Generation,
    GenerationRequest,
    SamplingParams,
    Timing,
)
from gapbench.errors import ModelFileError, UsageError

if TYPE_CHECKING:
    from gapbench.backends.registry import BackendOptions
    from gapbench.catalog.types import ModelSpec

__all__ = ["TransformersBackend", "create", "local_model_spec"]

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Fallback for an instruct model whose tokenizer has no template, as the llama.cpp backend does."""


def _transformers() -> Any:
    """The transformers module, typed loosely: several of its public calls are unannotated."""
    import transformers

    return transformers


def _error_generation(
    request: GenerationRequest, start: float, prompt_tokens: int, why: str
) -> Generation:
    return Generation.failed(request.request_id, start, why, prompt_tokens=prompt_tokens)


@dataclass(frozen=True)
class _Prepared:
    """A request turned into token ids, ready to batch."""

    request: GenerationRequest
    start: float
    ids: list[int]
    cap: int
    """Completion tokens this request may have: max_tokens capped by the room in the context."""
    stop: tuple[str, ...]


class _StepWatch:
    """Stopping criterion of one batch (see the module docstring); duck-typed like transformers'
    StoppingCriteria so that this module imports nothing heavy when it loads."""

    def __init__(self, jobs: Sequence[_Prepared], width: int, tokenizer: Any, eos: set[int]):
        self.jobs, self.width, self.tokenizer, self.eos = jobs, width, tokenizer, eos
        self.first_token: float | None = None
        self.steps: list[int | None] = [None] * len(jobs)
        """Tokens each finished row generated, its ending EOS included (it cost a step too)."""
        self.ends: list[float | None] = [None] * len(jobs)
        self.reasons: list[FinishReason] = ["length"] * len(jobs)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        last = input_ids[:, -1].tolist()
        now = time.perf_counter()  # after .tolist(), which waits for the GPU: the time is real
        if self.first_token is None:
            self.first_token = now
        steps = int(input_ids.shape[1]) - self.width
        for row, job in enumerate(self.jobs):
            if self.steps[row] is not None:
                continue
            if last[row] in self.eos or self._has_stop(job, input_ids[row, self.width :]):
                self.reasons[row] = "stop"
            elif steps < job.cap:
                continue
            self.steps[row], self.ends[row] = steps, now
        done = [s is not None for s in self.steps]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _has_stop(self, job: _Prepared, generated: Any) -> bool:
        if not job.stop:
            return False
        text = self.tokenizer.decode(generated.tolist(), skip_special_tokens=True)
        return any(s and s in text for s in job.stop)


class TransformersBackend:
    """A transformers causal LM loaded in this process. Implements the Backend protocol."""

    def __init__(
        self,
        source: str,
        *,
        chat: bool,
        threads: int,
        batch_size: int = 1,
        context_limit: int | None = None,
        gguf_file: str | None = None,
        revision: str | None = None,
        verbose: bool = False,
        model_sha256: str | None = None,
    ) -> None:
        """Load `source` (a local directory or a Hub repo id; with `gguf_file`, the directory
        holding it). `context_limit` caps prompt + completion; None -> the model's maximum."""
        import torch

        self.source, self.chat, self.threads = source, chat, threads
        self.batch_size, self.gguf_file, self.model_sha256 = batch_size, gguf_file, model_sha256
        torch.set_num_threads(threads)
        self.torch_device = "cuda" if torch.cuda.is_available() else "cpu"
        load_start = time.perf_counter()
        self._tokenizer, self._model = self._load(revision, verbose)
        self.load_seconds = time.perf_counter() - load_start
        self._eos, self._pad = self._special_ids()
        config = self._model.config
        positions = max_positions((config.get_text_config() or config).to_dict())
        self.context_limit = min(x for x in (context_limit, positions, 1 << 30) if x)
        self._template: str | None = None
        self.template_source = "none (completion prompts)"
        if chat:
            own = self._tokenizer.chat_template
            self._template = own or CHATML_TEMPLATE
            self.template_source = "tokenizer" if own else "chatml (fallback)"

    # --- loading

    def _load(self, revision: str | None, verbose: bool) -> tuple[Any, Any]:
        import torch

        hf = _transformers()
        if not verbose:
            hf.utils.logging.set_verbosity_error()
            hf.utils.logging.disable_progress_bar()
        kwargs: dict[str, Any] = {"revision": revision}
        kwargs["local_files_only"] = Path(self.source).exists()  # a local model never goes online
        if self.gguf_file:
            kwargs["gguf_file"] = self.gguf_file
        # float32 on CPU: bf16 matmuls are slow or emulated on most CPUs; on GPU the checkpoint's
        # own dtype ("auto"), as its authors ran it.
        dtype: Any = torch.float32 if self.torch_device == "cpu" else "auto"
        # GGUF dequantisation prints a raw tqdm bar that transformers' switches do not silence.
        quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stderr(io.StringIO())
        try:
            with quiet:
                tokenizer = hf.AutoTokenizer.from_pretrained(self.source, **kwargs)
                model = hf.AutoModelForCausalLM.from_pretrained(self.source, dtype=dtype, **kwargs)
        except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
            what = f"{self.source}/{self.gguf_file}" if self.gguf_file else self.source
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            fix = (
                "GGUF files need the gguf and accelerate packages: pip install 'gapbench[hf]'"
                if self.gguf_file
                else "check that it is a causal language model saved with save_pretrained"
            )
            raise ModelFileError(f"transformers cannot load {what} ({reason}); {fix}.") from exc
        return tokenizer, model.to(self.torch_device).eval()

    def _special_ids(self) -> tuple[set[int], int]:
        """End-of-sequence ids (generation config and tokenizer) and the pad id. Installs a clean
        generation config, so the checkpoint's own defaults (repetition penalty, top_k, sampling)
        cannot change what SamplingParams asks for."""
        original = self._model.generation_config
        eos: set[int] = set()
        for value in (original.eos_token_id, self._tokenizer.eos_token_id):
            if value is not None:
                eos.update(value if isinstance(value, list) else [value])
        pad = self._tokenizer.pad_token_id
        if pad is None:  # any id will do: the attention mask hides padding
            pad = original.pad_token_id if original.pad_token_id is not None else min(eos or {0})
        self._model.generation_config = _transformers().GenerationConfig(
            bos_token_id=original.bos_token_id, eos_token_id=sorted(eos), pad_token_id=pad
        )
        return eos, int(pad)

    # --- per-request preparation

    def _render(self, request: GenerationRequest) -> tuple[list[int], tuple[str, ...]]:
        """Prompt ids and extra stop strings for a request."""
        tok = self._tokenizer
        if request.messages is not None and self._template is not None:
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
            text = tok.apply_chat_template(
                messages, chat_template=self._template, tokenize=False, add_generation_prompt=True
            )
            ids = tok(text, add_special_tokens=False)["input_ids"]  # the template wrote BOS
            fallback = self.template_source != "tokenizer"
            return list(ids), ("<|im_end|>",) if fallback else ()
        if request.messages is not None:  # a base model has no chat format: plain text turns
            text = "\n\n".join(m.content for m in request.messages)
        else:
            text = request.prompt or ""
        return list(tok(text, add_special_tokens=True)["input_ids"]), ()

    def _prepare(self, request: GenerationRequest, start: float) -> _Prepared | Generation:
        try:
            ids, extra_stop = self._render(request)
        except Exception as exc:  # a template that raises fails this request, not the run
            return _error_generation(request, start, 0, f"cannot format the prompt: {exc}")
        room = self.context_limit - len(ids)
        if room < 1:
            why = (
                f"prompt longer than context ({len(ids)} tokens > "
                f"{self.context_limit - 1} that leave room to generate)"
            )
            return _error_generation(request, start, len(ids), why)
        return _Prepared(
            request=request,
            start=start,
            ids=ids,
            cap=max(1, min(request.sampling.max_tokens, room)),
            stop=tuple(dict.fromkeys((*request.sampling.stop, *extra_stop))),
        )

    # --- decoding

    def _generation_config(self, sampling: SamplingParams, max_new_tokens: int) -> Any:
        """Settings of one generate call; generate takes the special token ids from the model's
        (clean, see _special_ids) generation config."""
        settings: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False}
        if sampling.temperature > 0:
            # top_k 0: plain temperature + nucleus sampling, not transformers' default top_k=50.
            settings |= {"do_sample": True, "temperature": sampling.temperature}
            settings |= {"top_p": sampling.top_p, "top_k": 0}
        return _transformers().GenerationConfig(**settings)

    def _run_batch(self, jobs: Sequence[_Prepared], sampling: SamplingParams) -> list[Generation]:
        """Decode jobs that share sampling settings in one `generate` call."""
        import torch

        width = max(len(j.ids) for j in jobs)
        ids = [[self._pad] * (width - len(j.ids)) + j.ids for j in jobs]
        mask = [[0] * (width - len(j.ids)) + [1] * len(j.ids) for j in jobs]
        watch = _StepWatch(jobs, width, self._tokenizer, self._eos)
        torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            output = self._model.generate(
                input_ids=torch.tensor(ids, device=self.torch_device),
                attention_mask=torch.tensor(mask, device=self.torch_device),
                generation_config=self._generation_config(sampling, max(j.cap for j in jobs)),
                stopping_criteria=_transformers().StoppingCriteriaList([watch]),
            )
        after = time.perf_counter()
        generated = output[:, width:].tolist()
        results = []
        for row, job in enumerate(jobs):
            count = watch.steps[row] or len(generated[row])
            tokens = generated[row][:count]
            if watch.reasons[row] == "stop" and tokens and tokens[-1] in self._eos:
                tokens = tokens[:-1]  # the end-of-sequence token counts but is not text
            text = self._tokenizer.decode(tokens, skip_special_tokens=True)
            hits = [i for i in (text.find(s) for s in job.stop if s) if i >= 0]
            end = watch.ends[row] or after
            results.append(
                Generation(
                    request_id=job.request.request_id,
                    text=text[: min(hits)] if hits else text,
                    prompt_tokens=len(job.ids),
                    completion_tokens=count,
                    finish_reason=watch.reasons[row],
                    timing=Timing(start=job.start, end=end, first_token=watch.first_token),
                )
            )
        return results

    def _run_or_split(
        self, jobs: Sequence[_Prepared], sampling: SamplingParams
    ) -> list[Generation]:
        """Run a batch; if it fails, run its requests one by one so only the culprit fails."""
        try:
            return self._run_batch(jobs, sampling)
        except Exception as exc:  # out of memory, a kernel error...: this request's failure
            if len(jobs) > 1:
                return [g for job in jobs for g in self._run_or_split([job], sampling)]
            job = jobs[0]
            why = f"transformers: {type(exc).__name__}: {exc}"
            return [_error_generation(job.request, job.start, len(job.ids), why)]

    # --- Backend protocol

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[Generation]:
        """Decode `batch_size` requests at a time. A batch shares one sampling setup, so requests
        are grouped by (temperature, top_p, seed) first, keeping their order within a group; greedy
        requests form one group whatever their seeds. Stop strings and caps stay per request.
        Sampled (temperature > 0) outputs depend on the batch they ran in: the seed is per batch."""
        groups: dict[tuple[float, float, int], list[GenerationRequest]] = {}
        for request in requests:
            s = request.sampling
            key = (s.temperature, s.top_p, s.seed) if s.temperature > 0 else (0.0, 1.0, 0)
            groups.setdefault(key, []).append(request)
        for members in groups.values():
            for i in range(0, len(members), self.batch_size):
                jobs: list[_Prepared] = []
                for request in members[i : i + self.batch_size]:
                    job = self._prepare(request, time.perf_counter())
                    if isinstance(job, Generation):
                        yield job
                    else:
                        jobs.append(job)
                if jobs:
                    yield from self._run_or_split(jobs, jobs[0].request.sampling)

    def info(self) -> BackendInfo:
        """Engine versions, device, threads and weights hash, stored with the run."""
        import torch

        from gapbench.backends.hardware import describe_device

        device = f"cpu: {describe_device()}"
        if self.torch_device == "cuda":
            device = f"cuda: {torch.cuda.get_device_name(0)}; host: {describe_device()}"
        extra = {
            "source": self.source,
            "dtype": str(self._model.dtype).removeprefix("torch."),
            "context_limit": str(self.context_limit),
            "load_s": f"{self.load_seconds:.3f}",
        }
        if self.gguf_file:
            extra["gguf_file"] = self.gguf_file
        if self.chat:
            extra["chat_template"] = self.template_source
        versions = f"transformers {_transformers().__version__} / torch {torch.__version__}"
        return BackendInfo(
            backend="transformers",
            engine_version=versions,
            model_sha256=self.model_sha256,
            threads=self.threads,
            batch_size=self.batch_size,
            device=device,
            extra=extra,
        )

    def close(self) -> None:
        """Drop the model now; on a GPU also hand its memory back to the driver."""
        self._model = None
        if self.torch_device == "cuda":
            import torch

            torch.cuda.empty_cache()


def create(
    spec: ModelSpec, model_path: Path | None, options: BackendOptions
) -> TransformersBackend:
    """Registry factory: `model_path` (or `spec.local_path`) is a save_pretrained directory or a
    GGUF file. The context limit is `options.n_ctx` when given, else the model's own maximum."""
    raw = model_path or (Path(spec.local_path) if spec.local_path else None)
    if raw is None:
        raise UsageError(f"Model '{spec.id}' has no local directory or file to load.")
    path = raw.expanduser()
    if not path.exists():
        raise ModelFileError(f"Model path {path} does not exist; check the path.")
    is_gguf = path.is_file() and path.suffix.lower() == ".gguf"
    catalog_hash = next((s.sha256 for s in spec.sources if s.sha256), None)
    return TransformersBackend(
        str(path.parent if is_gguf else path),
        gguf_file=path.name if is_gguf else None,
        chat=spec.kind == "instruct",
        threads=options.resolved_threads(),
        # Padded batches change greedy outputs and gain little on CPU: auto stays sequential.
        batch_size=options.resolved_batch_size(1),
        context_limit=options.n_ctx,
        verbose=options.verbose,
        model_sha256=catalog_hash or weights_sha256(path),
    )
