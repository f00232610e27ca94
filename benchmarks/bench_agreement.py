"""Greedy agreement between sequential and continuous-batched decoding, on real evaluation prompts.

    GAPBENCH_CACHE=/tmp/gbcache .venv/bin/python benchmarks/bench_agreement.py \\
        --model qwen2.5-coder-0.5b-instruct --suite quick --n 100 --batch-size 8 --max-tokens 128

Runs `gapbench run` twice through the real CLI, once with --batch-size 1 (which reproduces
llama-cpp-python's sequential greedy output) and once with the batch size given, each into its own
SQLite file, then joins the two on the sample key and reports:

- how many outputs are byte-identical;
- how many samples are scored the same (both correct or both wrong), which is what a leaderboard
  depends on, and the accuracy of each side;
- the exact McNemar p-value of the discordant pairs (scipy's binomtest), i.e. whether batching
  moved accuracy more than chance would.

Floating-point summation order differs when several sequences share a decode step, so near-tie
logits can flip and the continuations diverge from there. The batch size is part of every run's
provenance; a run is reproducible at a fixed batch size.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = "model_id, task, seed, instance_index, difficulty"


def run_cli(args: argparse.Namespace, batch_size: str, db: Path) -> float:
    selection = ["--task", args.task] if args.task else ["--suite", args.suite]
    command = [
        sys.executable,
        "-m",
        "gapbench",
        "run",
        "--model",
        args.model,
        *selection,
        "--prompt-style",
        args.prompt_style,
        "--n",
        str(args.n),
        "--difficulty",
        args.difficulty,
        "--max-tokens",
        str(args.max_tokens),
        "--batch-size",
        batch_size,
        "--db",
        str(db),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def compare(sequential_db: Path, batched_db: Path) -> dict[str, float]:
    conn = sqlite3.connect(sequential_db)
    conn.execute("ATTACH DATABASE ? AS b", (str(batched_db),))
    rows = conn.execute(
        f"SELECT a.output, b.output, a.correct, b.correct, a.task FROM samples a "
        f"JOIN b.samples b USING ({KEY})"
    ).fetchall()
    conn.close()
    n = len(rows)
    same_output = sum(r[0] == r[1] for r in rows)
    same_score = sum(r[2] == r[3] for r in rows)
    only_seq = sum(r[2] == 1 and r[3] == 0 for r in rows)
    only_batched = sum(r[2] == 0 and r[3] == 1 for r in rows)
    from scipy.stats import binomtest

    discordant = only_seq + only_batched
    p = binomtest(only_seq, discordant, 0.5).pvalue if discordant else 1.0
    return {
        "n": n,
        "same_output": same_output / n,
        "same_score": same_score / n,
        "acc_sequential": sum(r[2] for r in rows) / n,
        "acc_batched": sum(r[3] for r in rows) / n,
        "only_sequential_correct": only_seq,
        "only_batched_correct": only_batched,
        "mcnemar_p": p,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--task", default=None, help="tasks instead of the suite, e.g. arith,logic")
    parser.add_argument("--prompt-style", default="reasoning")
    parser.add_argument("--n", type=int, default=100, help="instances per task")
    parser.add_argument("--difficulty", default="easy")
    parser.add_argument("--batch-size", default="auto", help="a number, or auto (the default)")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seq_db, batch_db = Path(tmp, "sequential.db"), Path(tmp, "batched.db")
        seq_s = run_cli(args, "1", seq_db)
        batch_s = run_cli(args, args.batch_size, batch_db)
        result = compare(seq_db, batch_db)
    print(
        f"model {args.model}  {args.task or 'suite ' + args.suite}  n/task {args.n}  "
        f"{args.difficulty}  style {args.prompt_style}  max_tokens {args.max_tokens}  "
        f"batch {args.batch_size}"
    )
    print(f"wall: sequential {seq_s:.0f} s, batched {batch_s:.0f} s (model load included)")
    print(
        f"samples {result['n']:.0f}: identical outputs {result['same_output']:.1%} "
        f"({result['n'] * (1 - result['same_output']):.0f} differ), "
        f"same score {result['same_score']:.1%}"
    )
    print(
        f"accuracy sequential {result['acc_sequential']:.1%}, batched {result['acc_batched']:.1%}; "
        f"correct only sequential {result['only_sequential_correct']:.0f}, "
        f"only batched {result['only_batched_correct']:.0f}, "
        f"exact McNemar p = {result['mcnemar_p']:.3f}"
    )


if __name__ == "__main__":
    main()
