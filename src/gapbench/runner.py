"""The runner: plan -> skip what is stored -> generate in batches -> score -> persist.

Every finished generation is scored as soon as the backend yields it and handed to the run's sample
writer, which stores it at once (samples that arrive faster than a write takes are stored together,
in one transaction: scheduler.py), so a killed run loses at most the samples in flight, and
rerunning the same command resumes exactly where it stopped. Planning is lazy (planned_samples), and
runs over the same instances at the same time split the work through claims instead of redoing it
(scheduler.py).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from gapbench import __version__
from gapbench.backends.base import Backend
from gapbench.backends.types import ChatMessage, Generation, GenerationRequest, SamplingParams
from gapbench.catalog.types import ModelSpec
from gapbench.store.records import (
    RunInfo,
    RunStatus,
    SampleKey,
    SampleRecord,
    settings_hash,
)
from gapbench.store.repository import Store
from gapbench.tasks.base import Difficulty, Instance, Task


def _command_line(args: Sequence[str]) -> str:
    """The command as stored with each run, without any user:password written in a URL."""
    from gapbench.catalog.credentials import strip_credentials

    return strip_credentials(shlex.join(["gapbench", *args]))


@dataclass(frozen=True)
class RunConfig:
    """What to evaluate and how. One config, not dozens of parameters."""

    models: Sequence[ModelSpec]
    tasks: Sequence[Task]
    n: int
    """Instances per task, indices 0..n-1 of the seed's stream (first_index..n-1 when set)."""
    seed: int = 0
    difficulty: Difficulty = "medium"
    max_tokens: int = 256
    temperature: float = 0.0
    fewshot_k: int = 3
    """Worked examples in the completion prompt of base models."""
    samples: int = 1
    """Draws per instance, for pass@k; more than one needs temperature > 0 to differ."""
    prompt_style: str = "reasoning"
    """How instruct models are asked (tasks/prompts.py PROMPT_STYLES); base models get few-shot
    completions whatever it says."""
    prompt_variants: int = 1
    """Phrasings of that prompt per instance (at most the task's prompt_variants): accuracy across
    them shows how much of a gap survives a rewording."""
    command: str = field(default_factory=lambda: _command_line(sys.argv[1:]))
    first_index: int = 0
    """The first instance index: a distributed run's work unit holds first_index..n-1 (the same
    samples, keys and prompts as in a run of all of them)."""
    provenance: Mapping[str, object] = field(default_factory=dict)
    """How the run was asked for, beyond the command (the --config file: its path and sha256):
    stored with each run's settings, never part of the settings hash."""


@dataclass(frozen=True)
class PlannedSample:
    """A sample to generate: its identity, the instance, and the exact request sent to the model."""

    key: SampleKey
    task: Task
    instance: Instance
    request: GenerationRequest
    prompt_text: str
    settings: SamplingParams
    """The settings the key's hash was taken from: the request's, but with the base seed where
    the request carries a draw's own seed (see draw_seed)."""
    prompt_style: str = "chat"
    """The style key the settings hash was taken with ('chat-reasoning-v2')."""
    prompt_variant: int = 0


@dataclass(frozen=True)
class TaskPlan:
    """One task's share of a model's plan: how its samples are asked, and which are stored."""

    task: Task
    sampling: SamplingParams
    """The base settings: every draw's request carries these with its own seed (draw_seed)."""
    style: str
    """The prompt style ('chat', 'chat-reasoning-v2', 'fewshot-3'), part of the settings hash."""
    variant: int
    """Which phrasing of the run's prompt style this share asks in."""
    settings_hash: str
    done: frozenset[tuple[int, int]]
    """(index, draw) pairs stored successfully when the plan was made."""
    remaining: int
    """Planned samples not in `done`."""


@dataclass(frozen=True)
class ModelPlan:
    """What one model should have. The samples themselves are produced lazily, in order, by
    planned_samples(plan): planning costs nothing per instance, so the first sample starts at
    once whatever --n is."""

    model: ModelSpec
    prompt_style: str
    total: int
    """Planned samples: instances times draws, over every task."""
    todo: tuple[PlannedSample, ...]
    """The first sample still to do of each task that has any: what the run's provenance is read
    from (settings, stop strings, whether code runs), without planning everything up front."""
    samples: int = 1
    """Draws per instance."""
    tasks: tuple[TaskPlan, ...] = ()
    config: RunConfig | None = None

    @property
    def remaining(self) -> int:
        """Samples to generate: planned ones not stored successfully."""
        return sum(t.remaining for t in self.tasks)

    @property
    def scope(self) -> frozenset[tuple[str, str]]:
        """(task, settings hash) pairs this plan's samples are stored under."""
        return frozenset((t.task.name, t.settings_hash) for t in self.tasks)


@dataclass
class RunOutcome:
    """Counts for one model's run, for the CLI to report."""

    model_id: str
    planned: int
    skipped: int
    """Already stored when the run was planned."""
    completed: int = 0
    failed: int = 0
    elsewhere: int = 0
    """Stored by another run while this one ran (concurrent runs over the same instances)."""
    run_id: int | None = None
    scope: frozenset[tuple[str, str]] = frozenset()
    """(task, settings hash) pairs of the planned samples: what the run's results are."""


class ProgressListener(Protocol):
    """How the runner reports progress without printing anything itself."""

    def model_started(self, model_id: str, todo: int) -> None: ...

    def sample_done(self, record: SampleRecord) -> None: ...

    def samples_elsewhere(self, count: int) -> None:
        """`count` planned samples were stored by another run meanwhile."""
        ...

    def waiting(self, held: int) -> None:
        """Every sample left is being generated by another live run; this one waits for them."""
        ...

    def model_finished(self, outcome: RunOutcome) -> None: ...


class _SilentListener:
    def model_started(self, model_id: str, todo: int) -> None:
        pass

    def sample_done(self, record: SampleRecord) -> None:
        pass

    def samples_elsewhere(self, count: int) -> None:
        pass

    def waiting(self, held: int) -> None:
        pass

    def model_finished(self, outcome: RunOutcome) -> None:
        pass


BackendFactory = Callable[[ModelSpec], tuple[Backend, Path | None]]
"""Loads a model: returns the backend and the model file it runs (None for non-file backends)."""


def sampling_for(
    model: ModelSpec, task: Task, config: RunConfig, variant: int = 0
) -> tuple[SamplingParams, str]:
    """Generation settings and prompt style for one model on one task, in one phrasing: base
    models need stop strings so a few-shot completion ends after one answer."""
    from gapbench.tasks.prompts import completion_stop, style_key

    if model.kind == "base":
        stop: tuple[str, ...] = completion_stop(task)
        style = f"fewshot-{config.fewshot_k}"
    else:
        stop, style = (), style_key(task, config.prompt_style, variant)
    sampling = SamplingParams(
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        seed=config.seed,
        stop=stop,
    )
    return sampling, style


def draw_seed(seed: int, draw: int) -> int:
    """The sampler seed of one draw: the run's seed for draw 0, so a single-draw run samples as
    it always did, and for later draws a value that differs from it and from every other draw's,
    so sampled draws of the same prompt are not copies of each other.

    1_000_003 is odd, so draw * 1_000_003 is never a multiple of 2**31 for 0 < draw < 2**31: the
    seeds of draws 1, 2, ... differ from each other and, for a seed below 2**31, from the seed
    itself. Later draws stay below 2**31, which every backend accepts. The seed depends on the
    draw, not the instance, so a backend that batches requests by seed (transformers) still
    decodes one draw of every instance together.
    """
    if draw == 0:
        return seed
    return (seed + draw * 1_000_003) % 2**31


def variants_for(model: ModelSpec, task: Task, config: RunConfig) -> int:
    """Phrasings to ask this model this task in: --prompt-variants, as far as the task has them;
    one for base models, whose few-shot prompt has a single form."""
    from gapbench.tasks.prompts import prompt_variants

    if model.kind == "base":
        return 1
    return min(config.prompt_variants, prompt_variants(task))


def _prompt(
    model: ModelSpec, task: Task, instance: Instance, config: RunConfig, variant: int
) -> tuple[tuple[ChatMessage, ...] | None, str | None, str]:
    """(messages, prompt, prompt_text): a chat for instruct models, a few-shot completion for
    base models, and the text stored with the sample."""
    from gapbench.tasks.prompts import chat_messages, completion_prompt

    if model.kind == "base":
        prompt = completion_prompt(task, instance, config.fewshot_k)
        return None, prompt, prompt
    messages = chat_messages(task, instance, config.prompt_style, variant)
    text = json.dumps(
        [{"role": m.role, "content": m.content} for m in messages], ensure_ascii=False
    )
    return messages, None, text


def check_config(config: RunConfig) -> None:
    """Refuse, before any model runs, a plan a fixed dataset cannot serve: HumanEval has 164
    problems, and with lazy planning its index 164 would otherwise fail only after 164 samples
    of every earlier model had run. Fresh tasks are endless streams: nothing to check."""
    for task in config.tasks:
        if task.kind == "fixed":
            task.instance(config.seed, config.n - 1, config.difficulty)


def plan_model(model: ModelSpec, config: RunConfig, store: Store) -> ModelPlan:
    """Every sample (instance and draw) this model should have, minus those already stored
    successfully, as a plan whose samples planned_samples() produces lazily."""
    tasks = []
    for task in config.tasks:
        for variant in range(variants_for(model, task, config)):
            sampling, style = sampling_for(model, task, config, variant)
            # The base settings identify the samples: every draw of a run shares one settings
            # hash, so a later run with more --samples adds the missing draws beside the stored
            # ones; each phrasing has its own, so more --prompt-variants adds phrasings.
            shash = settings_hash(sampling.as_dict(), style)
            stored = store.done_draws(
                model.id, task.name, task.version, config.seed, config.difficulty, shash
            )
            first = config.first_index
            done = frozenset(
                (i, d) for i, d in stored if first <= i < config.n and d < config.samples
            )
            remaining = (config.n - first) * config.samples - len(done)
            tasks.append(TaskPlan(task, sampling, style, variant, shash, done, remaining))
    plan = ModelPlan(
        model=model,
        prompt_style=(
            config.prompt_style if model.kind == "instruct" else f"fewshot-{config.fewshot_k}"
        ),
        total=(config.n - config.first_index) * config.samples * len(tasks),
        todo=(),
        samples=config.samples,
        tasks=tuple(tasks),
        config=config,
    )
    heads = []
    for task_plan in plan.tasks:
        if task_plan.remaining:
            heads.append(next(_task_samples(plan, task_plan)))
    return replace(plan, todo=tuple(heads))


def planned_samples(plan: ModelPlan) -> Iterator[PlannedSample]:
    """The plan's samples still to do, task by task, instance by instance, draw by draw; each
    instance and prompt is built only when its first missing draw is reached."""
    for task_plan in plan.tasks:
        if task_plan.remaining:
            yield from _task_samples(plan, task_plan)


def _task_samples(plan: ModelPlan, task_plan: TaskPlan) -> Iterator[PlannedSample]:
    from gapbench.tasks.prompts import request_id

    config, model, task = plan.config, plan.model, task_plan.task
    assert config is not None, "plans come from plan_model"
    for index in range(config.first_index, config.n):
        draws = [d for d in range(config.samples) if (index, d) not in task_plan.done]
        if not draws:
            continue
        instance = task.instance(config.seed, index, config.difficulty)
        variant = task_plan.variant
        messages, prompt, prompt_text = _prompt(model, task, instance, config, variant)
        for draw in draws:
            request = GenerationRequest(
                request_id=request_id(instance, draw, variant),
                sampling=replace(task_plan.sampling, seed=draw_seed(task_plan.sampling.seed, draw)),
                messages=messages,
                prompt=prompt,
            )
            key = SampleKey(
                model_id=model.id,
                task=task.name,
                task_version=task.version,
                seed=config.seed,
                index=index,
                difficulty=config.difficulty,
                settings_hash=task_plan.settings_hash,
                draw=draw,
            )
            yield PlannedSample(
                key, task, instance, request, prompt_text, task_plan.sampling, task_plan.style,
                variant,
            )  # fmt: skip


def split_reasoning(generation: Generation) -> Generation:
    """The generation with reasoning written inline (<think>...</think>) moved out of its text
    into `reasoning`, after any reasoning the engine gave apart (an API's reasoning_content). The
    one place this happens, so reasoning is stored the same way whichever backend produced it;
    text without a think tag is kept exactly as generated."""
    if "think>" not in generation.text:
        return generation
    from gapbench.scoring.extract import strip_think

    text, inline = strip_think(generation.text)
    reasoning = "\n".join(r for r in (generation.reasoning, inline) if r) or None
    return replace(generation, text=text, reasoning=reasoning)


def score_generation(planned: PlannedSample, generation: Generation, run_id: int) -> SampleRecord:
    """Turn a generation into a stored sample. A failed generation is stored as failed (so a rerun
    retries it), never as a wrong answer. Scoring sees how the generation ended: a fallback
    reading of an output cut at max_tokens or stuck in a loop is no answer (scoring/review.py)."""
    method: str | None = None
    generation = split_reasoning(generation)
    if generation.error is not None:
        correct, extracted, extraction_ok = False, None, False
    else:
        from gapbench.scoring.review import Ending, score_output

        cap = planned.request.sampling.max_tokens
        ending = Ending(generation.finish_reason, generation.completion_tokens, cap)
        score = score_output(planned.task, planned.instance, generation.text, ending)
        correct, extracted, extraction_ok = score.correct, score.extracted, score.extraction_ok
        method = score.method or None
    return SampleRecord(
        key=planned.key,
        run_id=run_id,
        prompt=planned.prompt_text,
        output=generation.text,
        reasoning=generation.reasoning,
        extracted=extracted,
        extraction_ok=extraction_ok,
        correct=correct,
        reference=planned.instance.answer,
        prompt_tokens=generation.prompt_tokens,
        completion_tokens=generation.completion_tokens,
        finish_reason=generation.finish_reason,
        ttft_s=generation.timing.ttft_s,
        latency_s=generation.timing.latency_s,
        error=generation.error,
        created_at=0.0,
        reasoning_tokens=generation.reasoning_tokens,
        retries=generation.retries,
        prompt_style=planned.prompt_style,
        prompt_variant=planned.prompt_variant,
        score_method=method,
    )


def _run_settings(plan: ModelPlan) -> dict[str, object]:
    """The generation settings of a run, as provenance. Stop strings can differ by task (base
    models stop at the next question, or at the next function for HumanEval): all are listed."""
    first = plan.todo[0].settings.as_dict()
    stops = {p.task.name: list(p.request.sampling.stop) for p in plan.todo}
    settings: dict[str, object] = {**first, "prompt_style": plan.prompt_style}
    if plan.samples > 1:
        # Left out at 1 so a single-draw run's provenance reads exactly as it always has.
        settings["samples"] = plan.samples
    variants = max((t.variant for t in plan.tasks), default=0) + 1
    if variants > 1:
        settings["prompt_variants"] = variants
    if len({tuple(stop) for stop in stops.values()}) > 1:
        settings["stop"] = stops
    if any(p.task.area == "code" for p in plan.todo):
        from gapbench.scoring.sandbox import isolation_level

        isolation = isolation_level()
        settings["sandbox"] = {
            "level": isolation.level,
            "engine": isolation.engine,
            "as_root": isolation.as_root,
            "warning": isolation.warning,
        }
    return settings


def _run_info(plan: ModelPlan, backend: Backend, command: str) -> RunInfo:
    """Provenance of a run: versions, weights, settings, and the machine."""
    from gapbench.perf.prices import run_price

    info = backend.info()
    settings = {**_run_settings(plan), **run_price(plan.model)}
    if plan.config is not None:
        settings.update(plan.config.provenance)
    if "server_kind" in info.extra:  # what an inference server was sent, and why
        keys = ("server_kind", "server_settings", "extra_body")
        settings["server"] = {k: info.extra[k] for k in keys if k in info.extra}
    return RunInfo(
        gapbench_version=__version__,
        model_id=plan.model.id,
        model_sha256=info.model_sha256,
        backend=info.backend,
        engine_version=info.engine_version,
        sampling=settings,
        settings_hash=plan.todo[0].key.settings_hash,
        threads=info.threads,
        batch_size=info.batch_size,
        device=info.device,
        command=command,
    )


def run_model(
    plan: ModelPlan,
    store: Store,
    load: BackendFactory,
    listener: ProgressListener,
    command: str,
) -> RunOutcome:
    """Run one model's missing samples and persist each as it finishes (see scheduler.py for
    how concurrent runs share the work)."""
    from gapbench.scheduler import Heartbeat, Job, SampleWriter, Tally, generate_plan
    from gapbench.store.leases import LEASE_SECONDS, this_process

    outcome = RunOutcome(
        plan.model.id, planned=plan.total, skipped=plan.total - plan.remaining, scope=plan.scope
    )
    listener.model_started(plan.model.id, plan.remaining)
    if not plan.remaining:
        listener.model_finished(outcome)
        return outcome
    from gapbench.backends.hardware import peak_rss_mb, reset_peak_rss

    # Each model gets its own memory peak, even when several run in one process.
    reset_peak_rss()
    backend, _model_file = load(plan.model)
    try:
        holder = this_process(lease_expires_at=time.time() + LEASE_SECONDS)
        run_id = store.start_run(_run_info(plan, backend, command), holder)
        outcome.run_id = run_id
        tally = Tally()
        status: RunStatus = "interrupted"
        try:
            with Heartbeat(store.location, run_id, store.busy_timeout):
                with SampleWriter(store.location, store.busy_timeout) as writer:
                    job = Job(plan, store, backend, run_id, listener, outcome, tally, writer)
                    generated = generate_plan(job)
                # Only once every sample is written: a failed write leaves the run 'interrupted'.
                status = generated
        finally:
            store.finish_run(run_id, status, tally.measures(peak_rss_mb()))
    finally:
        backend.close()
    listener.model_finished(outcome)
    return outcome


def run_evaluation(
    config: RunConfig,
    store: Store,
    load: BackendFactory,
    listener: ProgressListener | None = None,
) -> list[RunOutcome]:
    """Evaluate every model of the config on every task, resuming from what the store holds."""
    listener = listener or _SilentListener()
    check_config(config)
    # Runs of processes that died (killed, out of memory) are marked so, and free their claims.
    store.reap_dead_runs(time.time())
    outcomes = []
    for model in config.models:
        plan = plan_model(model, config, store)
        outcomes.append(run_model(plan, store, load, listener, config.command))
    return outcomes
