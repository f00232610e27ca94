"""Wall time of `gapbench demo` once installed (models already pulled), on a fresh database.

    .venv/bin/python benchmarks/bench_demo.py --runs 1 [--show-output] [--write-readme]

With --write-readme, the last run's database is kept as tests/data/demo.db and its output replaces
the block between the demo-output markers of README.md; tests/test_readme.py renders that database
with the current code and fails when the README no longer shows what the demo prints.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEMO_DB = ROOT / "tests" / "data" / "demo.db"
COLUMNS = "110"
"""The terminal width the README's block is printed at (and tests/test_readme.py renders at)."""
START, END = "<!-- demo-output:start -->", "<!-- demo-output:end -->"


def write_readme(output: str, db: Path) -> None:
    DEMO_DB.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    # SQLite's online backup writes one consistent file, whatever the WAL holds.
    with sqlite3.connect(db) as source, sqlite3.connect(DEMO_DB) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")
    text = README.read_text(encoding="utf-8")
    block = f"{START}\n```\n{output.rstrip()}\n```\n{END}"
    new, count = re.subn(re.escape(START) + ".*?" + re.escape(END), block, text, flags=re.S)
    if count != 1:
        raise SystemExit(f"README.md must hold exactly one {START} ... {END} block")
    README.write_text(new, encoding="utf-8")


def replay_readme() -> None:
    """Print the stored demo again with the current code and paste it into the README: for a
    change of wording or statistics that leaves the samples as they are (no model is loaded; the
    demo's rounds find every sample stored)."""
    import contextlib
    import io
    import shutil

    from gapbench.cli.run_cmds import run_demo

    def refuse(spec: object) -> NoReturn:
        raise SystemExit(f"tests/data/demo.db lacks samples for {spec}: run --write-readme")

    os.environ["COLUMNS"] = COLUMNS
    os.environ.pop("GAPBENCH_USD_PER_HOUR", None)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        shutil.copyfile(DEMO_DB, db)
        out = io.StringIO()
        os.chdir(tmp)  # no gapbench.toml of the checkout's
        with contextlib.redirect_stdout(out):
            run_demo(str(db), None, load=refuse)
        write_readme(out.getvalue(), db)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--show-output", action="store_true", help="Print the demo's output.")
    parser.add_argument("--write-readme", action="store_true", help=__doc__.splitlines()[4])
    parser.add_argument(
        "--replay-readme",
        action="store_true",
        help="Re-print the stored demo (tests/data/demo.db) with the current code into README.md, "
        "running no model.",
    )
    args = parser.parse_args()
    if args.replay_readme:
        replay_readme()
        return
    gapbench = Path(sys.executable).with_name("gapbench")
    # Pull first, outside the timing: the 5-minute target is for an installed demo.
    subprocess.run(
        [str(gapbench), "models", "pull", "smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct",
         "gemma-3-270m"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    times = []
    env = {**os.environ, "COLUMNS": COLUMNS}
    env.pop("GAPBENCH_USD_PER_HOUR", None)  # the demo as a newcomer sees it: default prices
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            db = Path(tmp) / f"demo{run}.db"
            load = os.getloadavg()[0]
            start = time.perf_counter()
            result = subprocess.run(
                [str(gapbench), "demo", "--db", str(db)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,  # no gapbench.toml of the checkout's
            )
            times.append(time.perf_counter() - start)
            print(f"run {run}: {times[-1]:.1f} s, load average {load:.2f} -> "
                  f"{os.getloadavg()[0]:.2f}")  # fmt: skip
            if args.show_output:
                print(result.stdout)
        if args.write_readme:
            write_readme(result.stdout, db)
    print(
        f"gapbench demo wall time: median {statistics.median(times):.1f} s "
        f"over {len(times)} run(s): " + ", ".join(f"{t:.1f}" for t in times)
    )


if __name__ == "__main__":
    main()
