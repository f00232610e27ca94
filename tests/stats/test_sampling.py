"""The binomial and multinomial draws behind the rank and origin-gap bootstraps, against scipy's
distributions: both branches of the binomial (geometric below n p = 10, BTRS above), symmetry,
edge cases, and the multinomial's marginals and covariances."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats

from gapbench.stats.sampling import binomial, multinomial


@pytest.mark.parametrize(
    ("n", "p"),
    [(2, 0.3), (20, 0.1), (40, 0.2), (100, 0.5), (1000, 0.03), (1000, 0.7), (250_000, 0.41)],
)
def test_binomial_follows_scipy(n: int, p: float) -> None:
    rng = random.Random(n)
    draws = np.array([binomial(rng, n, p) for _ in range(20_000)])
    assert draws.min() >= 0 and draws.max() <= n
    mean, var = stats.binom.stats(n, p)
    assert abs(draws.mean() - mean) < 5 * np.sqrt(var / len(draws))
    assert draws.var() == pytest.approx(var, rel=0.06)
    # The whole distribution: Pearson's chi-square against the exact pmf, values whose expected
    # count is under 5 pooled into the tails.
    values = np.arange(n + 1)
    expected = stats.binom.pmf(values, n, p) * len(draws)
    observed = np.bincount(draws, minlength=n + 1).astype(float)
    keep = expected >= 5
    low, high = values[keep].min(), values[keep].max()

    def pooled(counts: np.ndarray) -> list[float]:
        return [counts[: low + 1].sum(), *counts[low + 1 : high], counts[high:].sum()]

    cells_e, cells_o = pooled(expected), pooled(observed)
    assert stats.chisquare(cells_o, cells_e).pvalue > 1e-4


def test_binomial_edges_and_bad_input() -> None:
    rng = random.Random(0)
    assert binomial(rng, 0, 0.5) == 0
    assert binomial(rng, 10, 0.0) == 0
    assert binomial(rng, 10, 1.0) == 10
    assert {binomial(rng, 1, 0.5) for _ in range(100)} == {0, 1}
    for n, p in [(-1, 0.5), (3, 1.5), (3, -0.1)]:
        with pytest.raises(ValueError):
            binomial(rng, n, p)


def test_multinomial_marginals_and_covariances() -> None:
    rng = random.Random(3)
    weights = [5, 0, 12, 1, 30, 2]
    n = sum(weights)
    draws = np.array([multinomial(rng, n, weights) for _ in range(20_000)])
    assert (draws.sum(axis=1) == n).all()
    assert (draws[:, 1] == 0).all()
    p = np.array(weights) / n
    assert draws.mean(axis=0) == pytest.approx(n * p, abs=0.1)
    expected = n * (np.diag(p) - np.outer(p, p))
    assert np.cov(draws.T) == pytest.approx(expected, abs=0.15)
