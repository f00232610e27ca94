"""Stored samples per second on SQLite and on PostgreSQL (goal: at least 2,000/s on both).

    .venv/bin/python benchmarks/bench_store.py --samples 20000 --writers 1 4 --repeats 3
    .venv/bin/python benchmarks/bench_store.py --pg postgresql://user@host:5432/name

Two measures per database:

- store: W writer processes over the same S sample keys, through the store API exactly as
  the runner drives it (claim a chunk, 8 samples at first and twice as many after each chunk
  that took under half a second, as scheduler.py does; hand each sample to the run's
  `SampleWriter`, which writes those that wait together in one transaction; renew nothing: the
  run is short), so that claims contend as they do between concurrent runners; samples/s = S /
  wall time from the moment all writers are ready to the last one finishing. No model, no
  scoring: the store alone.
- store, one per transaction: as the runner drove the store before 2026-12-02 (chunks of 8,
  each sample stored by `add_sample` in its own transaction).
- run: one `gapbench run --model scripted:... --task arith --n N` process end to end (planning,
  the scripted backend, scoring, claims, storing, the progress bar), samples/s = N / its wall
  time, interpreter start included.

Without --pg a throwaway PostgreSQL server is started on 127.0.0.1 (Debian's binaries, as the
tests do, tests/store/postgres_server.py) with its default durability settings (fsync on); the
store's sessions commit with synchronous_commit=off, the counterpart of SQLite's
synchronous=NORMAL (store/postgres.py).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import sys, time
from pathlib import Path
from gapbench.store import RunInfo, SampleKey, SampleRecord, Store
from gapbench.scheduler import SampleWriter, chunk_size, next_chunk_size
db, total, me, ready = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
grouped = sys.argv[5] == "grouped"
with Store.open(db, busy_timeout=60) as store:
    run = store.start_run(RunInfo(gapbench_version="0", model_id="bench", backend="scripted",
                                  engine_version="0", sampling={}, settings_hash="h"))
    (ready / str(me)).touch()
    while not (ready / "go").exists():
        time.sleep(0.001)
    keys = [SampleKey("bench", "arith", "1", 0, i, "medium", "h") for i in range(total)]
    stored = 0
    writer = SampleWriter(db, 60)
    start, size = 0, chunk_size(1)
    with writer:
        while start < total:
            began = time.monotonic()
            outcome = store.claim(run, keys[start:start + size], time.time(), 60.0)
            for key in outcome.claimed:
                record = SampleRecord(
                    key=key, run_id=run, prompt="What is 17 + 25? Answer with the number only." * 4,
                    output="Let me add. 17 + 25 = 42.\\nAnswer: 42", extracted="42",
                    extraction_ok=True, correct=True, reference="42", prompt_tokens=60,
                    completion_tokens=14, finish_reason="stop", latency_s=0.01, ttft_s=0.002,
                    prompt_style="chat", score_method="answer-line")
                if grouped:
                    writer.put(record)
                else:
                    stored += store.add_sample(record)
            start += size
            if grouped:  # the runner's chunks grow while they go fast
                size = next_chunk_size(size, time.monotonic() - began)
    store.finish_run(run, "completed")
print(stored + writer.written)
"""


def store_rate(db: str, samples: int, writers: int, grouped: bool) -> float:
    mode = "grouped" if grouped else "each"
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, db, str(samples), str(w), str(ready), mode],
                stdout=subprocess.PIPE,
                text=True,
            )
            for w in range(writers)
        ]
        while len(list(ready.iterdir())) < writers:
            if any(p.poll() not in (None, 0) for p in procs):
                raise SystemExit("a writer failed before it was ready")
            time.sleep(0.01)
        started = time.perf_counter()
        (ready / "go").touch()
        stored = sum(int(p.communicate()[0]) for p in procs)
        wall = time.perf_counter() - started
    if stored != samples or any(p.returncode for p in procs):
        raise SystemExit(f"stored {stored} of {samples} samples")
    return samples / wall


def run_rate(db: str, n: int) -> float:
    args = ["run", "--model", "scripted:bench?accuracy=0.6", "--task", "arith", "--n", str(n)]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gapbench", *args, "--db", db],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return n / (time.perf_counter() - started)


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[tuple[str, object]]:
    """(the database given, or "" when a throwaway server was started; that server or None)."""
    if url is not None:
        import psycopg

        from gapbench.store.location import conceal

        with psycopg.connect(url, autocommit=True) as conn:
            if conn.execute("SELECT to_regnamespace('gapbench')").fetchone()[0] is not None:  # type: ignore[index]
                shown = conceal(url)
                raise SystemExit(f"{shown} already holds gapbench's tables: give an empty database")
        try:
            yield url, None
        finally:  # the benchmark's own tables only (there were none before)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DROP SCHEMA IF EXISTS gapbench CASCADE")
        return
    sys.path.insert(0, str(ROOT))
    from tests.store.postgres_server import running

    with running({"fsync": "on", "full_page_writes": "on"}) as server:
        yield "", server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--run-n", type=int, default=5_000, help="samples of the `run` measure")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--pg", default=None, help="an existing database without gapbench's tables (else a "
        "throwaway server is started); the benchmark's tables are dropped between measures",
    )  # fmt: skip
    args = parser.parse_args()
    with postgres(args.pg) as (given, server), tempfile.TemporaryDirectory() as tmp:

        def fresh(kind: str, label: str) -> str:
            if kind == "sqlite":
                return str(Path(tmp) / f"{label}.db")
            if given:
                import psycopg

                with psycopg.connect(given, autocommit=True) as conn:
                    # Only what an earlier measure of this benchmark created (checked at start).
                    conn.execute("DROP SCHEMA IF EXISTS gapbench CASCADE")
                return given
            return server.create_database()  # type: ignore[attr-defined,no-any-return]

        def row(kind: str, measure: str, writers: int, samples: int, rates: list[float]) -> None:
            best, median = max(rates), statistics.median(rates)
            print(f"| {kind} | {measure} | {writers} | {samples:,} | {best:,.0f} | {median:,.0f} |")

        print(f"| database | measure | writers | samples | samples/s, best of {args.repeats} "
              "| median |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for kind in ("sqlite", "postgresql"):
            for grouped, measure in ((True, "store"), (False, "store, one per transaction")):
                for writers in args.writers:
                    rates = [
                        store_rate(
                            fresh(kind, f"s{grouped}{writers}-{r}"), args.samples, writers, grouped
                        )
                        for r in range(args.repeats)
                    ]
                    row(kind, measure, writers, args.samples, rates)
            rates = [run_rate(fresh(kind, f"run-{r}"), args.run_n) for r in range(args.repeats)]
            row(kind, "run (scripted)", 1, args.run_n, rates)


if __name__ == "__main__":
    main()
