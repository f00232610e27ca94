"""Cost of one llama_decode step: N sequences x 1 token against 1 sequence x N tokens.

    .venv/bin/python benchmarks/bench_decode_step.py \\
        --model /tmp/gbcache/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf --repeats 3

Why this exists: continuous batching can only be as fast as the engine's own decode step. A batch
of N sequences x 1 token does the same weight matmuls as a prompt chunk of 1 sequence x N tokens,
plus N output-projection rows instead of one (every decoded token needs its logits), so the
prompt-chunk rate at size N is an upper bound on batched decoding at N slots. If that bound is
under 3x the one-token rate, no scheduler can reach 3x at that batch size on this machine.

Each configuration is timed as the median of 20 decode steps (prompt chunks: of 3 runs), with the
KV cache prefilled to 40 tokens per sequence, for both KV layouts llama.cpp offers:
split streams (one KV stream per sequence, gapbench's default) and one unified stream. The layouts
alternate within each repeat so that machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

PREFILL = 40


class Engine:
    """A llama_context with `n_seq` sequences over the weights of an already loaded Llama."""

    def __init__(self, llm: Any, n_seq: int, unified: bool) -> None:
        import llama_cpp
        from llama_cpp import _internals

        params = llama_cpp.llama_context_default_params()
        for name, _ in params._fields_:
            setattr(params, name, getattr(llm.context_params, name))
        params.n_ctx = 512 * n_seq
        params.n_seq_max = n_seq
        params.n_batch = params.n_ubatch = 512
        params.kv_unified = unified
        self._wrapper = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self.ctx = self._wrapper.ctx
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(512, 0, 1)

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> float:
        """Decode (token, position, sequence, wants_logits) entries in one step; seconds taken."""
        import llama_cpp

        batch = self.batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits
        batch.n_tokens = len(entries)
        start = time.perf_counter()
        if llama_cpp.llama_decode(self.ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        return time.perf_counter() - start

    def clear(self) -> None:
        import llama_cpp

        llama_cpp.llama_memory_clear(self.memory, True)

    def close(self) -> None:
        import llama_cpp

        llama_cpp.llama_batch_free(self.batch)
        self._wrapper.close()


def decode_rate(engine: Engine, n_seq: int) -> float:
    """Output tokens/s of decode steps over n_seq sequences, one token each."""
    engine.clear()
    for seq in range(n_seq):
        engine.decode([(100 + i, i, seq, i == PREFILL - 1) for i in range(PREFILL)])
    steps = [
        engine.decode([(200 + step, PREFILL + step, seq, True) for seq in range(n_seq)])
        for step in range(20)
    ]
    return n_seq / statistics.median(steps)


def chunk_rate(engine: Engine, n_tokens: int) -> float:
    """Tokens/s of one sequence's prompt chunk of n_tokens (logits for the last one only)."""
    times = []
    for _ in range(3):
        engine.clear()
        times.append(engine.decode([(100 + i, i, 0, i == n_tokens - 1) for i in range(n_tokens)]))
    return n_tokens / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--sizes", default="1,2,4,8,16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import llama_cpp

    sizes = [int(s) for s in args.sizes.split(",")]
    llm = llama_cpp.Llama(
        str(args.model),
        n_ctx=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    engines = {unified: Engine(llm, max(sizes), unified) for unified in (False, True)}
    rates: dict[str, list[float]] = {}
    print(f"model {args.model.name}  threads {args.threads}  load {os.getloadavg()[0]:.2f}")
    for _ in range(args.repeats):
        for n in sizes:
            for unified, engine in engines.items():
                key = f"decode {n} seq x 1 ({'unified' if unified else 'split'} KV)"
                rates.setdefault(key, []).append(decode_rate(engine, n))
            rates.setdefault(f"prompt 1 seq x {n}", []).append(chunk_rate(engines[False], n))
    for rate in (64, 256):
        rates[f"prompt 1 seq x {rate}"] = [chunk_rate(engines[False], rate)]
    base = statistics.median(rates["decode 1 seq x 1 (split KV)"])
    print(f"load after {os.getloadavg()[0]:.2f}\n")
    print("| step | tokens/s (median) | vs 1 sequence decode | runs |")
    print("|---|---:|---:|---|")
    for key, values in rates.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {key} | {median:.1f} | {median / base:.2f}x | {runs} |")
    for engine in engines.values():
        engine.close()


if __name__ == "__main__":
    main()
