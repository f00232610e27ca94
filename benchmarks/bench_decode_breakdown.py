"""Where the wall time of one continuous-batched run goes, step by step, against the step bound.

    GAPBENCH_CACHE=<pulled models> .venv/bin/python benchmarks/bench_decode_breakdown.py \\
        --model gemma-3-270m --n 50 --slots 16

Runs `BatchedDecoder.run` once over the gapbench prompts (arith and logic, easy, the default
prompt style, as bench_batch_efficiency.py plans them, shared-prefix cache on) and times every
`llama_decode` call, sorted by what the step held:

- full: one token of every slot, all decoding: these run at the decode-step bound;
- mixed prefill: prompt tokens of newly admitted sequences beside the decoding ones (the rows
  that asked for logits); their prompt tokens are work the bound leaves out by definition;
- partial: decoding only, fewer rows than slots (the drain at the end, when the queue is empty).

What is left of the wall time is Python: batch building, sampling, detokenising, stop strings.
Why this exists: it says which of these keeps a model from the 90% of the bound that issue 10
asked for, per model, instead of one number for all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench_batch_efficiency import planned_jobs, step_bound


@dataclass(frozen=True)
class Call:
    tokens: int
    rows: int
    """Tokens that asked for logits: one per decoding sequence (and a prompt's last token)."""
    seconds: float


def kind(call: Call, slots: int) -> str:
    if call.tokens > call.rows:
        return "mixed prefill"
    return "full" if call.rows == slots else "partial"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--tasks", default="arith,logic")
    parser.add_argument("--n", type=int, default=50, help="instances per task")
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import llama_cpp

    from gapbench.backends.llamacpp_batch import BatchedDecoder

    backend, jobs = planned_jobs(args.model, args.tasks.split(","), args.n, args.max_tokens)
    real_decode = llama_cpp.llama_decode
    calls: list[Call] = []

    def timed_decode(ctx: Any, batch: Any) -> int:
        rows = sum(1 for i in range(batch.n_tokens) if batch.logits[i])
        start = time.perf_counter()
        status: int = real_decode(ctx, batch)
        calls.append(Call(batch.n_tokens, rows, time.perf_counter() - start))
        return status

    with BatchedDecoder(backend._llama, n_slots=args.slots, per_seq_ctx=2048) as decoder:
        depth = round(statistics.mean(len(j.prompt_tokens) for j in jobs))
        bound = step_bound(decoder, args.slots, depth)
        decoder._prefix_seq = args.slots  # the shared-prefix cache, as `gapbench run` uses it
        llama_cpp.llama_decode = timed_decode
        try:
            start = time.perf_counter()
            results = list(decoder.run(jobs))
            wall = time.perf_counter() - start
        finally:
            llama_cpp.llama_decode = real_decode
    backend.close()
    completion = sum(r.completion_tokens for r in results)
    prompt = sum(r.prompt_tokens - r.reused_prompt_tokens for r in results)
    rate = completion / wall
    print(
        f"{args.model}, {args.slots} slots, {len(jobs)} prompts: {wall:.1f} s, {completion} "
        f"completion tokens ({completion / len(jobs):.0f} per prompt), {prompt} prompt tokens "
        f"evaluated ({prompt / len(jobs):.0f} per prompt after the shared prefix); "
        f"{rate:.1f} tok/s = {rate / bound:.0%} of the step bound {bound:.1f} tok/s "
        f"(load {os.getloadavg()[0]:.2f})"
    )
    print("| step | calls | seconds | share of wall | decoded rows | prompt tokens |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("full", "mixed prefill", "partial"):
        mine = [c for c in calls if kind(c, args.slots) == name]
        seconds = sum(c.seconds for c in mine)
        print(
            f"| {name} | {len(mine)} | {seconds:.1f} | {seconds / wall:.0%} | "
            f"{sum(c.rows for c in mine)} | {sum(c.tokens - c.rows for c in mine)} |"
        )
    outside = wall - sum(c.seconds for c in calls)
    print(f"| Python (outside llama_decode) | | {outside:.1f} | {outside / wall:.0%} | | |")
    drain = [c.rows for c in calls if kind(c, args.slots) == "partial"]
    print(f"partial steps with one row: {drain.count(1)} of {len(drain)}")


if __name__ == "__main__":
    main()
