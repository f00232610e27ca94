"""Harness overhead: end-to-end `gapbench run` throughput divided by the backend's own throughput
on the same prompts, in the same process (target: at least 0.95).

    .venv/bin/python benchmarks/bench_overhead.py --model smollm2-135m-instruct --n 10 --repeats 3

Both sides generate the same greedy completions; the end-to-end side also plans, skips stored
samples, scores, and writes every sample to SQLite in its own transaction. Model loading is timed
separately and excluded from both.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from gapbench.backends.base import Backend
from gapbench.backends.references import resolve_model
from gapbench.backends.registry import BackendOptions, load_backend
from gapbench.catalog.pull import pull
from gapbench.catalog.types import ModelSpec
from gapbench.runner import RunConfig, plan_model, planned_samples, run_evaluation
from gapbench.store.repository import Store
from gapbench.tasks.suites import resolve_tasks


def backend_alone(backend: Backend, config: RunConfig, spec: ModelSpec, db: Path) -> float:
    """Output tokens/s of backend.generate on the planned requests, nothing else."""
    with Store.open(db) as store:
        plan = plan_model(spec, config, store)
    start = time.perf_counter()
    requests = [p.request for p in planned_samples(plan)]
    tokens = sum(g.completion_tokens for g in backend.generate(requests))
    return tokens / (time.perf_counter() - start)


def end_to_end(backend: Backend, config: RunConfig, db: Path) -> float:
    """Output tokens/s of the whole runner: plan, generate, score, persist."""
    with Store.open(db) as store:
        start = time.perf_counter()
        run_evaluation(config, store, lambda _spec: (backend, None))
        elapsed = time.perf_counter() - start
        tokens = sum(s.completion_tokens for s in store.samples(include_failed=True))
    return tokens / elapsed


class _KeepOpen:
    """The runner closes its backend after each model; the benchmark reuses one loaded model."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.generate = inner.generate
        self.info = inner.info

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    spec = resolve_model(args.model)
    path = pull(spec)
    options = BackendOptions(batch_size=args.batch_size)
    load_start = time.perf_counter()
    backend = _KeepOpen(load_backend(spec, path, options))
    print(f"model load: {time.perf_counter() - load_start:.2f} s")
    config = RunConfig(
        models=[spec],
        tasks=resolve_tasks(None, args.suite),
        n=args.n,
        difficulty="easy",
        max_tokens=args.max_tokens,
        command="bench_overhead",
    )
    ratios = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            alone = backend_alone(backend, config, spec, Path(tmp) / "a.db")
            full = end_to_end(backend, config, Path(tmp) / "b.db")
        ratios.append(full / alone)
        print(
            f"repeat {repeat + 1}: backend {alone:.1f} tok/s, end to end {full:.1f} tok/s, "
            f"ratio {full / alone:.3f}"
        )
    print(f"median ratio over {args.repeats} repeats: {statistics.median(ratios):.3f}")
    backend._inner.close()


if __name__ == "__main__":
    main()
