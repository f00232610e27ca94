"""Coverage of the pass@1 interval by simulation: how often gapbench's 95% interval for pass@1 with
several draws per instance (stats/intervals.py, `clustered_pass_interval`) holds the true pass@1.

    .venv/bin/python benchmarks/bench_interval_coverage.py --reps 2000

Each instance's own pass probability p_i is drawn from a beta distribution with mean mu (the true
pass@1, the mean over the population of instances) and concentration phi = a + b: phi = 0.5 makes
nearly every instance all right or all wrong (as on real benchmarks, where most problems are
always or never solved), phi = 10 spreads them moderately, and phi = inf gives every instance the
same p (independent draws). Then every instance is drawn K times. A cell's coverage is the share
of simulated evaluations whose interval holds mu; with 2000 repetitions its standard error is
about 0.5 points at 95%.

The simulation draws data with numpy (a dev dependency) and computes every interval with
gapbench's own pure-Python code, as the leaderboard does. Intervals depend on the data only
through how many instances had each count of right draws, so they are cached by that histogram.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gapbench.stats.intervals import clustered_pass_interval

PASS_AT_1: tuple[float, ...] = (0.01, 0.05, 0.5, 0.95, 0.99)
DRAWS: tuple[int, ...] = (3, 10)
INSTANCES: tuple[int, ...] = (30, 100, 164)
CONCENTRATIONS: tuple[float, ...] = (0.5, 2.0, 10.0, math.inf)

Interval = Callable[[Sequence[tuple[int, int]]], tuple[float, float]]


@dataclass(frozen=True)
class Cell:
    mu: float
    phi: float
    instances: int
    draws: int


@dataclass(frozen=True)
class Result:
    coverage: float
    mean_width: float
    below: float
    """Share of intervals lying entirely below mu (upper bound too low)."""


def simulate(cell: Cell, reps: int, rng: np.random.Generator, interval: Interval) -> Result:
    """Coverage of `interval` over `reps` simulated evaluations of one cell."""
    cache: dict[tuple[int, ...], tuple[float, float]] = {}
    covered = below = 0
    width = 0.0
    for _ in range(reps):
        if math.isinf(cell.phi):
            p = np.full(cell.instances, cell.mu)
        else:
            p = rng.beta(cell.mu * cell.phi, (1 - cell.mu) * cell.phi, size=cell.instances)
        right = rng.binomial(cell.draws, p)
        key = tuple(int(h) for h in np.bincount(right, minlength=cell.draws + 1))
        bounds = cache.get(key)
        if bounds is None:
            counts = [(cell.draws, c) for c, times in enumerate(key) for _ in range(times)]
            bounds = cache[key] = interval(counts)
        low, high = bounds
        covered += low <= cell.mu <= high
        below += high < cell.mu
        width += high - low
    return Result(covered / reps, width / reps, below / reps)


def cells(
    instances: Sequence[int] = INSTANCES, concentrations: Sequence[float] = CONCENTRATIONS
) -> list[Cell]:
    return [
        Cell(mu, phi, m, k)
        for phi in concentrations
        for k in DRAWS
        for m in instances
        for mu in PASS_AT_1
    ]


def normal_clustered(counts: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """The interval gapbench used before: mean of the instance means +- 1.96 standard errors
    (Miller 2024), clipped to [0, 1]. 0.0-0.0 when every draw is wrong."""
    shares = [right / draws for draws, right in counts]
    mean = sum(shares) / len(shares)
    se = math.sqrt(sum((x - mean) ** 2 for x in shares) / (len(shares) - 1) / len(shares))
    return max(0.0, mean - 1.959964 * se), min(1.0, mean + 1.959964 * se)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument(
        "--baseline", action="store_true", help="Simulate the old normal interval instead."
    )
    args = parser.parse_args()
    interval: Interval = normal_clustered if args.baseline else clustered_pass_interval
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    worst: tuple[float, Cell] | None = None
    name = "old normal interval" if args.baseline else "Korn-Graubard interval"
    print(f"95% {name}: coverage of pass@1, {args.reps} repetitions per cell (seed {args.seed})")
    print(f"{'phi':>5} {'K':>3} {'m':>4}  " + "  ".join(f"mu={mu:<11}" for mu in PASS_AT_1))
    results: dict[Cell, Result] = {}
    for cell in cells():
        results[cell] = simulate(cell, args.reps, rng, interval)
        if worst is None or results[cell].coverage < worst[0]:
            worst = (results[cell].coverage, cell)
    for phi in CONCENTRATIONS:
        for k in DRAWS:
            for m in INSTANCES:
                row = [results[Cell(mu, phi, m, k)] for mu in PASS_AT_1]
                shown = "  ".join(f"{r.coverage:6.1%} w{r.mean_width:.3f}" for r in row)
                print(f"{phi:>5} {k:>3} {m:>4}  {shown}")
    assert worst is not None
    print(
        f"lowest coverage {worst[0]:.1%} at mu={worst[1].mu}, phi={worst[1].phi}, "
        f"K={worst[1].draws}, m={worst[1].instances}; w: mean interval width; "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
