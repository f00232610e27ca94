"""HumanEval pass@1 through the CLI, as a user runs it, against the published figure.

    .venv/bin/python benchmarks/bench_humaneval.py [--model qwen2.5-coder-0.5b-instruct]
        [--batch-size 8] [--max-tokens 512] [--n 164] [--db PATH]

Runs `gapbench run --task humaneval` into a fresh database (or resumes --db), then reads the
leaderboard's JSON and the stored samples: pass@1 with its 95% interval, the wall time, and how
many outputs held no code at all. Prints one Markdown row for
docs/benchmarks.md. The published figure is the Qwen2.5-Coder technical report's (Hui et al.
2024, Table "instruct models", HumanEval 61.6 for the 0.5B instruct model).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PUBLISHED = {"qwen2.5-coder-0.5b-instruct": 61.6}
GAPBENCH = str(Path(sys.executable).with_name("gapbench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--n", type=int, default=164)
    parser.add_argument("--db", default=None, help="resume this database instead of a fresh one")
    args = parser.parse_args()
    db = args.db or str(Path(tempfile.mkdtemp(prefix="gapbench-humaneval-")) / "humaneval.db")
    command = [GAPBENCH, "run", "--model", args.model, "--task", "humaneval", "--n", str(args.n),
               "--batch-size", str(args.batch_size), "--max-tokens", str(args.max_tokens),
               "--db", db]  # fmt: skip
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    load_after = os.getloadavg()[0]
    print(run.stdout)
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        raise SystemExit(f"gapbench run exited {run.returncode}")
    board = subprocess.run(
        [GAPBENCH, "leaderboard", "--task", "humaneval", "--db", db, "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = json.loads(board.stdout)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    row = next(r for r in rows if r["model"] == args.model and r["task"] == "humaneval")
    with sqlite3.connect(db) as conn:
        outcomes = collections.Counter(
            "no code" if not ok else ("passed" if correct else "failed")
            for ok, correct in conn.execute("SELECT extraction_ok, correct FROM samples")
        )
    published = PUBLISHED.get(args.model)
    pct = 100 * row["accuracy"]
    print(f"command: {' '.join(command)}")
    print(f"wall time: {wall / 60:.1f} min; load average {load_before:.1f} -> {load_after:.1f}")
    print(f"outcomes: {dict(outcomes)}")
    print(
        f"| {time.strftime('%Y-%m-%d %H:%M')} | {args.model} | {row['correct']}/{row['n']} | "
        f"**{pct:.1f}** | {100 * row['ci_low']:.1f}-{100 * row['ci_high']:.1f} | "
        f"{published if published is not None else '-'} | {wall / 60:.1f} min | "
        f"{platform.machine()}, {os.cpu_count()} cores |"
    )


if __name__ == "__main__":
    main()
