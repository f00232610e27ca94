"""End-to-end batched decoding as a fraction of the engine's decode-step bound, on real prompts.

    GAPBENCH_CACHE=<pulled models> .venv/bin/python benchmarks/bench_batch_efficiency.py \\
        --model qwen2.5-coder-0.5b-instruct --slots 8,16 --n 20 --max-tokens 128 --repeats 1

The bound at N slots is N / (time of one `llama_decode` step of N sequences x 1 token), measured in
the decoder's own context with every sequence's KV cache filled to the mean prompt length: what
the run would reach if every step were a full decode step, with no prefill and no draining slots.
A step costs more the more tokens each sequence has cached, so the bound is also measured at the
depth the run's decode steps had on average (prompt plus half the completion, over the run's
outputs): the tighter of the two for long outputs, printed beside.
End to end is the completion tokens of `BatchedDecoder.run` over the gapbench prompts (arith and
logic, easy, the default prompt style, as `gapbench run` plans them) divided by its wall time,
prefill, sampling, refill and the final drain included. Each repeat measures, for each slot count,
the bound, then the run without and with the shared-prefix cache, so that machine noise falls on
all of them alike. Prints one table row per measurement and the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STEPS = 12
"""Decode steps timed per bound measurement (the median is taken)."""


@dataclass(frozen=True)
class Run:
    slots: int
    prefix_cache: bool
    seconds: float
    completion_tokens: int
    prompt_tokens: int
    reused_tokens: int
    identical: int
    """Outputs identical to the prefix-cache-off run of the same repeat and slot count."""

    @property
    def rate(self) -> float:
        return self.completion_tokens / self.seconds


def planned_jobs(model: str, tasks: list[str], n: int, max_tokens: int) -> tuple[Any, list[Any]]:
    """The loaded backend (batch size 1: no decoder of its own) and its DecodeJobs."""
    from gapbench.backends.llamacpp_batch import DecodeJob
    from gapbench.backends.references import resolve_model
    from gapbench.backends.registry import BackendOptions, load_backend
    from gapbench.catalog.pull import pull
    from gapbench.runner import RunConfig, plan_model, planned_samples
    from gapbench.store.repository import Store
    from gapbench.tasks.suites import resolve_tasks

    spec = resolve_model(model)
    backend = load_backend(spec, pull(spec), BackendOptions(batch_size=1))
    requests = []
    for task in tasks:
        config = RunConfig(models=[spec], tasks=resolve_tasks(task, None), n=n, difficulty="easy")
        with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "plan.db") as store:
            requests += [p.request for p in planned_samples(plan_model(spec, config, store))]
    jobs = []
    for i, request in enumerate(requests):
        prepared = backend._prepare(request, time.perf_counter())
        jobs.append(
            DecodeJob(
                job_id=str(i),
                prompt_tokens=prepared.tokens,
                max_tokens=min(max_tokens, prepared.max_new_tokens),
                stop=prepared.stop,
            )
        )
    return backend, jobs


def step_bound(decoder: Any, n_seq: int, depth: int) -> float:
    """Tokens/s of a decode step of n_seq sequences x 1 token, each with `depth` tokens cached."""
    import llama_cpp

    batch = decoder._batch

    def step(entries: list[tuple[int, int, int, bool]]) -> float:
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits
        batch.n_tokens = len(entries)
        start = time.perf_counter()
        if llama_cpp.llama_decode(decoder._ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        return time.perf_counter() - start

    llama_cpp.llama_memory_clear(decoder._memory, True)
    for seq in range(n_seq):
        step([(100 + i, i, seq, i == depth - 1) for i in range(depth)])
    times = [step([(200 + s, depth + s, seq, True) for seq in range(n_seq)]) for s in range(STEPS)]
    llama_cpp.llama_memory_clear(decoder._memory, True)
    return n_seq / statistics.median(times)


def end_to_end(decoder: Any, jobs: list[Any]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    results = {r.job_id: r for r in decoder.run(jobs)}
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--tasks", default="arith,logic")
    parser.add_argument("--n", type=int, default=20, help="instances per task")
    parser.add_argument("--slots", default="8,16")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=2048, help="context per sequence")
    parser.add_argument("--prefix-cache", choices=["both", "on", "off"], default="both",
                        help="runs with the shared-prefix cache off, on, or both")  # fmt: skip
    args = parser.parse_args()
    caches = {"both": (False, True), "on": (True,), "off": (False,)}[args.prefix_cache]
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from gapbench.backends.llamacpp_batch import BatchedDecoder

    backend, jobs = planned_jobs(args.model, args.tasks.split(","), args.n, args.max_tokens)
    depth = round(statistics.mean(len(j.prompt_tokens) for j in jobs))
    print(
        f"model {args.model}  jobs {len(jobs)}  mean prompt {depth} tokens  "
        f"max_tokens {args.max_tokens}  threads {backend.threads}  "
        f"load before {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    bounds: dict[int, list[float]] = {}
    deep_bounds: dict[tuple[int, bool], list[float]] = {}
    runs: list[Run] = []
    for repeat in range(args.repeats):
        for slots in (int(s) for s in args.slots.split(",")):
            with BatchedDecoder(backend._llama, n_slots=slots, per_seq_ctx=args.ctx) as dec:
                bound = step_bound(dec, slots, depth)
                bounds.setdefault(slots, []).append(bound)
                print(f"repeat {repeat + 1} slots {slots}: bound {bound:.1f} tok/s", flush=True)
                reference: dict[str, str] = {}
                for prefix_cache in caches:
                    dec._prefix_seq = slots if prefix_cache else None
                    seconds, results = end_to_end(dec, jobs)
                    texts = {k: r.text for k, r in results.items()}
                    reference = reference or texts
                    run = Run(
                        slots=slots,
                        prefix_cache=prefix_cache,
                        seconds=seconds,
                        completion_tokens=sum(r.completion_tokens for r in results.values()),
                        prompt_tokens=sum(r.prompt_tokens for r in results.values()),
                        reused_tokens=sum(r.reused_prompt_tokens for r in results.values()),
                        identical=sum(texts[k] == reference[k] for k in texts),
                    )
                    runs.append(run)
                    print(
                        f"  prefix cache {'on ' if prefix_cache else 'off'}: {seconds:.1f} s, "
                        f"{run.rate:.1f} tok/s = {run.rate / bound:.0%} of the bound, "
                        f"reused {run.reused_tokens}/{run.prompt_tokens} prompt tokens, "
                        f"identical outputs {run.identical}/{len(jobs)}, "
                        f"load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
                    decode_depth = round(
                        statistics.mean(
                            r.prompt_tokens + r.completion_tokens / 2 for r in results.values()
                        )
                    )
                    deep = step_bound(dec, slots, decode_depth)
                    deep_bounds.setdefault((slots, prefix_cache), []).append(deep)
                    print(
                        f"  bound at the mean decode depth ({decode_depth} tokens): {deep:.1f} "
                        f"tok/s; end to end {run.rate / deep:.0%} of it",
                        flush=True,
                    )
    print(f"load after {os.getloadavg()[0]:.2f}\n")
    print(
        "| slots | bound tok/s (prompt depth) | bound tok/s (decode depth) | prefix cache "
        "| end to end tok/s | fraction of bound (prompt depth) | of bound (decode depth) | runs |"
    )
    print("|---:|---:|---:|---|---:|---:|---:|---|")
    for slots, values in bounds.items():
        bound = statistics.median(values)
        for prefix_cache in caches:
            mine = [r for r in runs if r.slots == slots and r.prefix_cache == prefix_cache]
            deep = statistics.median(deep_bounds[(slots, prefix_cache)])
            rate = statistics.median(r.rate for r in mine)
            fractions = ", ".join(f"{r.rate / b:.0%}" for r, b in zip(mine, values, strict=True))
            print(
                f"| {slots} | {bound:.1f} | {deep:.1f} | {'on' if prefix_cache else 'off'} | "
                f"{rate:.1f} | {rate / bound:.0%} | {rate / deep:.0%} | {fractions} |"
            )
    backend.close()


if __name__ == "__main__":
    main()
