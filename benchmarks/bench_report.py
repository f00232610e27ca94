"""`gapbench report`, `gapbench serve` and the terminal leaderboard on large databases.

For each size: builds a database of that many samples (two scripted models, one US and one CN,
on arith and logic; 10,000 through `gapbench run` itself, larger ones through the store API with
the same shape), then times, each as a user runs it, in a fresh process:
- `gapbench report` (wall time, file size),
- `gapbench leaderboard` (the terminal path, which loads every sample into Python),
- `gapbench serve`: its start-up (it computes the summary before it answers), the first
  /api/view, /api/leaderboard, and /api/samples near the end of the samples (one page); then, on a
  copy of the database, a 20-sample run of a new model while /api/leaderboard is polled: the
  slowest answer while the server recomputes in the background, and when the new model shows.

.venv/bin/python benchmarks/bench_report.py --sizes 10000 100000 [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

MODELS = (
    "scripted:usa?accuracy=0.7&origin=US&released=2024-06-01",
    "scripted:cnb?accuracy=0.6&origin=CN&released=2025-01-20",
)
GAPBENCH = [sys.executable, "-m", "gapbench"]


def build(db: Path, size: int) -> None:
    """A database of `size` samples: two models x two tasks x size/4 instances."""
    per = size // 4
    if size <= 10_000:
        args = [a for m in MODELS for a in ("--model", m)]
        subprocess.run(
            [*GAPBENCH, "run", *args, "--task", "arith,logic", "--n", str(per), "--db", str(db)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return
    # Larger: a small real run gives the shape (prompts, keys, settings), then copies of it.
    subprocess.run(
        [
            *GAPBENCH,
            "run",
            *(a for m in MODELS for a in ("--model", m)),
            "--task",
            "arith,logic",
            "--n",
            "50",
            "--db",
            str(db),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    from gapbench.store.repository import Store

    rng = random.Random(0)
    with Store.open(db) as store:
        seeds = store.samples()
        by_model = {m: [s for s in seeds if s.key.model_id == m] for m in MODELS}
        accuracy = {MODELS[0]: 0.7, MODELS[1]: 0.6}
        batch = []
        for model, templates in by_model.items():
            for task in ("arith", "logic"):
                shape = [s for s in templates if s.key.task == task]
                for index in range(50, per):
                    s = shape[index % len(shape)]
                    batch.append(
                        replace(
                            s,
                            key=replace(s.key, index=index),
                            correct=rng.random() < accuracy[model],
                            created_at=s.created_at + index * 1e-6,
                        )
                    )
                    if len(batch) == 20_000:
                        store.add_samples(batch)
                        batch = []
        if batch:
            store.add_samples(batch)


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def get(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=900) as response:
        body = response.read()
    return time.perf_counter() - start, len(body)


@contextlib.contextmanager
def serving(db: Path, timeout_s: float = 300) -> Iterator[str]:
    """`gapbench serve` over `db` on a free port; yields its base URL once it says "Serving"."""
    proc = subprocess.Popen(
        [*GAPBENCH, "serve", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        line = proc.stdout.readline() if ready else ""
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if not found:
            raise RuntimeError(f"server did not start: {line!r}")
        yield found[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def serve_times(db: Path, size: int) -> dict[str, float]:
    """Seconds from `gapbench serve` to its "Serving" line (the summary is computed before it),
    then of the first /api/view, a /api/leaderboard and the last page of samples."""
    started = time.perf_counter()
    with serving(db) as base:
        startup = time.perf_counter() - started
        first, _ = get(base + "api/view")
        second, _ = get(base + "api/leaderboard")
        page, _ = get(f"{base}api/samples?offset={size - 50}&limit=50")
    return {
        "startup_s": startup,
        "view_first_s": first,
        "leaderboard_cached_s": second,
        "samples_page_s": page,
    }


def serve_while_writing(db: Path, timeout_s: float = 300) -> dict[str, float]:
    """Serve `db`, store 20 samples of a new model into it, and poll /api/leaderboard every
    0.2 s until the new model shows: the slowest answer meanwhile, and when it showed."""
    with serving(db, timeout_s) as base:
        new_model = "scripted:latecomer?accuracy=0.5"
        run = [*GAPBENCH, "run", "--model", new_model, "--task", "arith", "--n", "20"]
        subprocess.run([*run, "--db", str(db)], check=True, capture_output=True)
        written = time.perf_counter()
        slowest = 0.0
        while time.perf_counter() - written < timeout_s:
            start = time.perf_counter()
            with urllib.request.urlopen(base + "api/leaderboard", timeout=60) as response:
                body = response.read()
            slowest = max(slowest, time.perf_counter() - start)
            if b"latecomer" in body:
                shown = time.perf_counter() - written
                return {"slowest_while_recomputing_s": slowest, "shown_after_s": shown}
            time.sleep(0.2)
        raise RuntimeError("the new model never showed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", type=Path, default=None, help="keep the databases here")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes:
        db = folder / f"samples-{size}.db"
        if not db.exists():
            start = time.perf_counter()
            build(db, size)
            print(f"built {db} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        out = folder / f"report-{size}.html"
        row: dict[str, float | int] = {"samples": size}
        row["report_s"] = timed([*GAPBENCH, "report", "--db", str(db), "--out", str(out)])
        row["report_mb"] = round(out.stat().st_size / 1e6, 2)
        row["leaderboard_s"] = timed([*GAPBENCH, "leaderboard", "--db", str(db)])
        row.update(serve_times(db, size))
        copy = folder / f"copy-{size}.db"
        shutil.copyfile(db, copy)  # the run below writes to it
        try:
            row.update(serve_while_writing(copy))
        finally:
            copy.unlink()
        results.append(row)
        print(json.dumps(row), file=sys.stderr)
    print(
        "| samples | report | report size | leaderboard (terminal) | serve: first /api/view "
        "| serve: /api/leaderboard, cached | serve: a page of samples at the end "
        "| serve: start-up | serve: slowest /api/leaderboard while recomputing "
        "| new results shown after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['samples']:,} | {r['report_s']:.1f} s | {r['report_mb']:.1f} MB "
            f"| {r['leaderboard_s']:.1f} s | {r['view_first_s']:.2f} s "
            f"| {r['leaderboard_cached_s']:.3f} s | {r['samples_page_s']:.3f} s "
            f"| {r['startup_s']:.1f} s | {r['slowest_while_recomputing_s']:.2f} s "
            f"| {r['shown_after_s']:.1f} s |"
        )


if __name__ == "__main__":
    main()
