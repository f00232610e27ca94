"""Coverage of the pass@1 interval by simulation, with a fixed seed: per-instance pass
probabilities drawn from beta distributions around the true pass@1, several draws per instance,
and the share of 95% intervals that hold the truth (benchmarks/bench_interval_coverage.py prints
the full table with more repetitions).

The simulation is shown to have teeth: the same cells, run with the plain Korn-Graubard interval
(n_eff = N draws at the bounds, m - 1 degrees of freedom; written here with scipy) or the normal
interval gapbench used before, fall well short of 94%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from benchmarks.bench_interval_coverage import PASS_AT_1, Cell, normal_clustered, simulate
from scipy import stats as scipy_stats

from gapbench.stats.intervals import clustered_pass_interval

REPS = 500
"""Standard error about 1 point at 95%; the bounds are typically at 97-99%."""


def plain_korn_graubard(counts: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """svyciprop(method = "beta") with the usual boundary rule (n_eff = the draws' count)."""
    shares = np.array([r / d for d, r in counts])
    m, total = len(shares), sum(d for d, _ in counts)
    p = float(shares.mean())
    if p in (0.0, 1.0):
        ci = scipy_stats.binomtest(round(p * total), total).proportion_ci(0.95, "exact")
        return float(ci.low), float(ci.high)
    variance = float(shares.var(ddof=1)) / m
    n_eff = min(total, p * (1 - p) / variance) if variance > 0 else total
    n_eff *= (scipy_stats.t.ppf(0.975, total - 1) / scipy_stats.t.ppf(0.975, m - 1)) ** 2
    low = scipy_stats.beta.ppf(0.025, n_eff * p, n_eff * (1 - p) + 1)
    high = scipy_stats.beta.ppf(0.975, n_eff * p + 1, n_eff * (1 - p))
    return float(low), float(high)


HARD = [
    Cell(mu, phi, m, k)
    for phi in (0.5, 2.0)
    for k in (3, 10)
    for m in (30, 164)
    for mu in PASS_AT_1
]
"""Strongly heterogeneous instances (most all right or all wrong), at both ends of the instance
counts claimed: where intervals that trust the variance of a few instances fail."""


@pytest.fixture(scope="module")
def coverage() -> dict[Cell, float]:
    rng = np.random.default_rng(20261201)
    return {cell: simulate(cell, REPS, rng, clustered_pass_interval).coverage for cell in HARD}


def test_coverage_is_at_least_94_percent_in_every_hard_cell(coverage: dict[Cell, float]) -> None:
    low = {cell: c for cell, c in coverage.items() if c < 0.94}
    assert not low, low


def test_independent_draws_cells_cover_too() -> None:
    rng = np.random.default_rng(7)
    for k in (3, 10):
        for mu in PASS_AT_1:
            cell = Cell(mu, math.inf, 100, k)
            assert simulate(cell, REPS, rng, clustered_pass_interval).coverage >= 0.94, cell


def test_the_simulation_catches_intervals_that_undercover() -> None:
    rng = np.random.default_rng(20261201)
    weak = [Cell(0.01, 0.5, 164, 10), Cell(0.05, 0.5, 30, 10), Cell(0.01, 2.0, 164, 10)]
    plain = [simulate(cell, REPS, rng, plain_korn_graubard).coverage for cell in weak]
    assert min(plain) < 0.92, plain
    normal = simulate(Cell(0.01, 0.5, 30, 3), REPS, rng, normal_clustered).coverage
    assert normal < 0.6, normal
