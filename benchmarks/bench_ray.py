"""Runner throughput on one machine: `gapbench run` in one process against `gapbench run --ray`
with 2 Ray worker processes, scripted backend, same plan, fresh SQLite file each time.

The scripted backend answers in microseconds by default, which measures only gapbench's own
per-sample work (planning, claiming, scoring, storing); with --delay each answer takes that many
seconds, as a model's generation would, which is where more worker processes pay.

    .venv/bin/python benchmarks/bench_ray.py --n 2000 --delay 0 0.005

Startup is timed apart: the Ray cluster is started once (`ray start --head`, 2 CPUs) before the
runs, and each `gapbench run --ray` joins it, as on a real cluster.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")


def timed_run(args: list[str], db: Path) -> tuple[float, int]:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gapbench", "run", *args, "--db", str(db)],
        check=True,
        capture_output=True,
    )
    took = time.perf_counter() - start
    with sqlite3.connect(db) as conn:
        stored = int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    return took, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="instances per task (two tasks)")
    parser.add_argument("--delay", type=float, nargs="+", default=[0.0, 0.005])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.update(
        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_USAGE_STATS_ENABLED="0"
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    port = 6400 + secrets.randbelow(500)
    started = time.perf_counter()
    subprocess.run(
        [str(RAY), "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=0",
         "--include-dashboard=false", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
         f"--temp-dir={folder / 'ray'}"],
        check=True, capture_output=True,
    )  # fmt: skip
    print(f"ray start --head: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    try:
        print("| delay per answer | samples | one process | --ray, 2 workers | ratio |")
        print("|---|---|---|---|---|")
        for delay in args.delay:
            model = f"scripted:bench?accuracy=0.7&delay={delay:g}"
            plan = ["--model", model, "--task", "arith,logic", "--n", str(args.n)]
            local, ray = [], []
            for r in range(args.repeats):
                took, stored = timed_run(plan, folder / f"local-{delay}-{r}.db")
                local.append(stored / took)
                took, stored = timed_run([*plan, "--ray", f"127.0.0.1:{port}"],
                                         folder / f"ray-{delay}-{r}.db")  # fmt: skip
                ray.append(stored / took)
            best_local, best_ray = max(local), max(ray)
            print(
                f"| {delay * 1000:g} ms | {stored:,} | {best_local:,.0f} samples/s "
                f"| {best_ray:,.0f} samples/s | {best_ray / best_local:.2f}x |"
            )
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True)


if __name__ == "__main__":
    main()
