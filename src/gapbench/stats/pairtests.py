"""The two tests a paired verdict rests on, for two models run on the same instances: McNemar's
exact test and a paired bootstrap interval for the accuracy difference.

Pairing matters: both models see the same instances, so instance difficulty cancels out and only
the discordant pairs (one right, the other wrong) carry information about the gap.

Standard library only, so the default install stays light; tests check every number against scipy
or numpy (tests/stats/test_paired.py).
"""

from __future__ import annotations

import math
import operator
import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from gapbench.stats.intervals import check_confidence

# Up to this many discordant pairs McNemar's p is summed in exact integers (correctly rounded);
# beyond it big-integer sums get slow, and a log-space series (relative error ~1e-10) takes over.
EXACT_INTEGER_LIMIT = 20_000

# A binomial table stops where the pmf falls below this fraction of the pmf at the mode. The mass
# left out is far below 2**-53, the resolution of random.random(), so no draw can tell the
# truncated table from the full one.
_NEGLIGIBLE_PMF = 1e-20


# --- McNemar's exact test ----------------------------------------------------------------------


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b pairs only A got right and c pairs only B got right.

    Under the null each discordant pair goes either way with probability 1/2, so this is the
    two-sided binomial test of min(b, c) successes out of b + c at p = 0.5: min(1, 2 * P(X <= k)).
    With no discordant pairs there is no evidence of a gap and the p-value is 1.0.
    """
    b = operator.index(b)
    c = operator.index(c)
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    k = min(b, c)
    # From k >= (n - 1) / 2 on, the lower tail holds at least half the mass: p is capped at 1.
    if 2 * k + 1 >= n:
        return 1.0
    if n <= EXACT_INTEGER_LIMIT:
        return min(1.0, _two_sided_half_binomial_exact(k, n))
    return min(1.0, _two_sided_half_binomial_logspace(k, n))


def _two_sided_half_binomial_exact(k: int, n: int) -> float:
    """2 * P(Bin(n, 1/2) <= k) from an exact integer sum of binomial coefficients."""
    coefficient = 1
    total = 1
    for i in range(k):
        # C(n, i+1) = C(n, i) * (n - i) / (i + 1) and the division is always exact.
        coefficient = coefficient * (n - i) // (i + 1)
        total += coefficient
    # int / int is correctly rounded in Python, even when both sides are thousands of digits long.
    return (2 * total) / (1 << n)


def _two_sided_half_binomial_logspace(k: int, n: int) -> float:
    """2 * P(Bin(n, 1/2) <= k) for k < n / 2 as pmf(k) * (1 + pmf(k-1)/pmf(k) + ...).

    The series is summed from k downwards, where its terms shrink geometrically, so it stops after
    a few hundred terms whatever n is.
    """
    log_pmf_k = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    term = 1.0
    series = 1.0
    for j in range(k, 0, -1):
        term *= j / (n - j + 1)  # pmf(j - 1) / pmf(j)
        series += term
        if term < 1e-17 * series:
            break
    return 2.0 * math.exp(log_pmf_k + math.log(series))


# --- paired bootstrap --------------------------------------------------------------------------


def _binomial_inverse_cdf_table(trials: int, p: float) -> tuple[int, list[float]]:
    """(first, cdf) such that first + bisect_right(cdf, u) is a Bin(trials, p) draw for u ~ U[0, 1).

    The pmf is built outwards from the mode with the ratio pmf(k+1)/pmf(k) = (n-k)/(k+1) * p/(1-p)
    and normalised at the end, so nothing overflows or underflows, and the table only spans the
    outcomes that carry non-negligible mass (about +-10 standard deviations around the mode).
    """
    if trials == 0 or p <= 0.0:
        return (0, [1.0])
    if p >= 1.0:
        return (trials, [1.0])
    odds = p / (1.0 - p)
    mode = min(trials, math.floor((trials + 1) * p))
    above: list[float] = []
    term = 1.0
    for k in range(mode, trials):
        term *= (trials - k) / (k + 1) * odds
        if term < _NEGLIGIBLE_PMF:
            break
        above.append(term)
    below: list[float] = []
    term = 1.0
    for k in range(mode, 0, -1):
        term *= k / (trials - k + 1) / odds  # pmf(k - 1) / pmf(k)
        if term < _NEGLIGIBLE_PMF:
            break
        below.append(term)
    pmf = [*reversed(below), 1.0, *above]
    total = math.fsum(pmf)
    cdf = [cumulative / total for cumulative in accumulate(pmf)]
    cdf[-1] = 1.0  # rounding must never let a draw fall off the end of the table
    return (mode - len(below), cdf)


def count_pairs(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int, int]:
    """(n, a-only, b-only): the number of pairs and the two kinds of discordant pairs."""
    if len(a) != len(b):
        raise ValueError(
            f"paired results must have the same length, got {len(a)} and {len(b)}; "
            "pair them by instance first"
        )
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    return (len(a), only_a, only_b)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile of sorted values, q a fraction: the same definition as
    numpy.percentile's default."""
    position = q * (len(sorted_values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    weight = position - below
    return sorted_values[below] + weight * (sorted_values[above] - sorted_values[below])


def paired_bootstrap_ci(
    a: Sequence[bool],
    b: Sequence[bool],
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval for mean(a) - mean(b), resampling (a[i], b[i]) pairs.

    A resample's difference depends only on how many a-only and b-only pairs it drew, so instead of
    drawing n indices per resample we draw those counts from their exact joint (multinomial)
    distribution: the discordant count D ~ Bin(n, (n10 + n01) / n), then the a-only count
    K ~ Bin(D, n10 / (n10 + n01)); the difference is (2K - D) / n. Each binomial is an inverse-CDF
    lookup in a precomputed table (one table per value of D, cached), so a resample costs two
    uniforms and two bisections whatever n is: the same distribution as the index bootstrap, at
    O(n_resamples) instead of O(n * n_resamples). Deterministic for a given seed.
    """
    check_confidence(confidence)
    n_resamples = operator.index(n_resamples)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    n, only_a, only_b = count_pairs(a, b)
    if n == 0:
        raise ValueError("cannot bootstrap an empty set of pairs")
    discordant = only_a + only_b
    if discordant == 0:
        return (0.0, 0.0)  # every resample has difference exactly 0

    if only_b > only_a:
        # Always sample from the side with more discordant wins, so that swapping a and b mirrors
        # the interval exactly (same draws) instead of giving a slightly different one.
        low, high = _bootstrap_bounds(n, only_b, only_a, confidence, n_resamples, seed)
        return (0.0 - high, 0.0 - low)  # 0.0 - x turns a -0.0 into +0.0
    return _bootstrap_bounds(n, only_a, only_b, confidence, n_resamples, seed)


def _bootstrap_bounds(
    n: int, only_a: int, only_b: int, confidence: float, n_resamples: int, seed: int
) -> tuple[float, float]:
    """Percentile interval of (only_a* - only_b*) / n over resamples; see paired_bootstrap_ci."""
    discordant = only_a + only_b
    rng_uniform = random.Random(seed).random
    first_d, cdf_d = _binomial_inverse_cdf_table(n, discordant / n)
    share_a = only_a / discordant
    tables_k: dict[int, tuple[int, list[float]]] = {}
    twice_k_minus_d: list[int] = []
    for _ in range(n_resamples):
        d = first_d + bisect_right(cdf_d, rng_uniform())
        table_k = tables_k.get(d)
        if table_k is None:
            table_k = tables_k[d] = _binomial_inverse_cdf_table(d, share_a)
        k = table_k[0] + bisect_right(table_k[1], rng_uniform())
        twice_k_minus_d.append(2 * k - d)
    twice_k_minus_d.sort()
    tail = (1.0 - confidence) / 2.0
    return (
        percentile(twice_k_minus_d, tail) / n,
        percentile(twice_k_minus_d, 1.0 - tail) / n,
    )
