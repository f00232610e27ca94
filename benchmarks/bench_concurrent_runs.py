"""Concurrent runs over the same instances: throughput reported, and work done twice.

    .venv/bin/python benchmarks/bench_concurrent_runs.py --runs 1 4 --n 300

Starts R `gapbench run` processes at once on a fresh database, all over the same instances of
the quick suite with the scripted backend, waits for them, then reads what the leaderboard
reports (output tokens/s of the model) and what the runs recorded (generations each made). With
claims, the R runs split the samples and each charges only its own time, so the reported tok/s
stays that of one run; before claims (issue 9: 2,588 tok/s for 4 runs against 56,178 for one)
every run generated every sample and charged all its time to the samples it kept.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(runs: int, n: int, delay: float, db: Path) -> dict[str, float]:
    model = f"scripted:bench?accuracy=0.6&delay={delay}"
    args = ["run", "--model", model, "--suite", "quick", "--n", str(n), "--db", str(db)]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gapbench", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(runs)
    ]
    codes = []
    for proc in procs:
        _, stderr = proc.communicate()
        codes.append(proc.returncode)
        if proc.returncode:
            print(f"  a run exited {proc.returncode}: {stderr.strip().splitlines()[-1]}")
    wall = time.perf_counter() - started
    board = subprocess.run(
        [sys.executable, "-m", "gapbench", "leaderboard", "--json", "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    overall = next(row for row in json.loads(board.stdout) if row["task"] == "overall")
    with sqlite3.connect(db) as conn:
        generated = conn.execute("SELECT SUM(generations) FROM runs").fetchone()[0] or 0
        stored = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    return {
        "exit_codes_nonzero": sum(code != 0 for code in codes),
        "wall_s": wall,
        "tokens_per_s": overall["tokens_per_s"],
        "stored": stored,
        "generated": generated,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--n", type=int, default=300, help="Instances per task.")
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="Seconds the scripted backend sleeps per request (0: CPU-bound microseconds, which "
        "runs sharing the cores slow down for real; 0.005: a backend that waits, like an API).",
    )
    args = parser.parse_args()
    print(f"scripted backend, delay {args.delay} s per request, {3 * args.n} samples")
    print(f"{'runs':>4} {'wall s':>7} {'tok/s reported':>15} {'stored':>7} {'generated':>10}")
    for runs in args.runs:
        with tempfile.TemporaryDirectory() as tmp:
            got = measure(runs, args.n, args.delay, Path(tmp) / "bench.db")
        print(
            f"{runs:>4} {got['wall_s']:>7.1f} {got['tokens_per_s']:>15,.0f} "
            f"{got['stored']:>7} {got['generated']:>10}"
            + (
                f"  ({got['exit_codes_nonzero']} runs exited non-zero)"
                if got["exit_codes_nonzero"]
                else ""
            )
        )


if __name__ == "__main__":
    main()
