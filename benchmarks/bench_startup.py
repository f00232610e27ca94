"""CLI startup: median wall time of `gapbench --help` and `python -c "import gapbench"`.

.venv/bin/python benchmarks/bench_startup.py --runs 10
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    gapbench = shutil.which("gapbench") or str(
        __import__("pathlib").Path(sys.executable).with_name("gapbench")
    )
    rows = [
        ("gapbench --help", median_seconds([gapbench, "--help"], args.runs)),
        (
            'python -c "import gapbench"',
            median_seconds([sys.executable, "-c", "import gapbench"], args.runs),
        ),
        (
            "python -c pass (interpreter alone)",
            median_seconds([sys.executable, "-c", "pass"], args.runs),
        ),
    ]
    print(f"| command | median of {args.runs} runs |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| `{name}` | {seconds:.3f} s |")


if __name__ == "__main__":
    main()
