"""Confidence intervals for a single model's accuracy.

Standard library only: the default install carries no numpy/scipy, and these formulas are small
(the beta and t quantiles they need are in special.py).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from statistics import NormalDist

from gapbench.stats.special import beta_ppf, t_ppf


def z_for_confidence(confidence: float) -> float:
    """The two-sided normal critical value for a confidence level (0.95 -> 1.959964...)."""
    check_confidence(confidence)
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def check_confidence(confidence: float) -> None:
    """Raise ValueError unless 0 < confidence < 1 (95 instead of 0.95 is a common slip)."""
    if not (isinstance(confidence, int | float) and 0.0 < confidence < 1.0):
        raise ValueError(
            f"confidence must be a fraction strictly between 0 and 1, got {confidence!r}"
        )


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, as (low, high) fractions.

    Chosen over the Wald interval because it stays inside [0, 1] and keeps close to nominal
    coverage at the small n and extreme accuracies (0/n, n/n) that small benchmarks produce.
    With n = 0 nothing is known, so the whole range (0.0, 1.0) is returned.
    """
    successes = operator.index(successes)
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    z = z_for_confidence(confidence)
    if n == 0:
        return (0.0, 1.0)
    p_hat = successes / n
    z2_over_n = z * z / n
    denominator = 1.0 + z2_over_n
    center = (p_hat + z2_over_n / 2.0) / denominator
    half_width = (z / denominator) * math.sqrt(p_hat * (1.0 - p_hat) / n + z2_over_n / (4.0 * n))
    # At 0/n and n/n the bound is mathematically exactly 0 or 1; rounding can leave 1e-17 residue.
    low = 0.0 if successes == 0 else max(0.0, center - half_width)
    high = 1.0 if successes == n else min(1.0, center + half_width)
    return (low, high)


def clopper_pearson(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Clopper-Pearson ("exact") interval, as (low, high), for `successes` of `n` trials.

    Written with beta quantiles, so both may be fractional: Korn and Graubard's interval below is
    this interval at an effective sample size. Raises ValueError unless 0 <= successes <= n and
    n > 0.
    """
    return (_cp_low(successes, n, confidence), _cp_high(successes, n, confidence))


def _cp_low(successes: float, n: float, confidence: float) -> float:
    _check_trials(successes, n, confidence)
    if successes <= 0:
        return 0.0
    return beta_ppf((1.0 - confidence) / 2.0, successes, n - successes + 1.0)


def _cp_high(successes: float, n: float, confidence: float) -> float:
    _check_trials(successes, n, confidence)
    if successes >= n:
        return 1.0
    return beta_ppf((1.0 + confidence) / 2.0, successes + 1.0, n - successes)


def _check_trials(successes: float, n: float, confidence: float) -> None:
    check_confidence(confidence)
    if not (n > 0 and 0.0 <= successes <= n and math.isfinite(n)):
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes} of {n}")


def clustered_pass_interval(
    instances: Sequence[tuple[int, int]], confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for pass@1, the mean over instances of each one's right share, from
    (draws, right draws) per instance, as (low, high).

    The draws of one instance are not independent (an easy instance is right in most of them),
    so the unit of sampling is the instance (Miller 2024, "Adding Error Bars to Evals"). A normal
    interval on the instance means collapses to 0.0-0.0 when every draw is wrong, and undercovers
    near the bounds; this is instead the Korn-Graubard interval (Korn and Graubard 1998, "Confidence
    intervals for proportions with small expected number of positive counts estimated from survey
    data", Survey Methodology 24:193-201), a Clopper-Pearson interval at the effective sample size
    n_eff = p(1 - p) / var(p), var(p) being the between-instance variance of the mean and n_eff
    scaled by (t[N-1] / t[df])**2 for the few degrees of freedom a variance from few instances
    has. Three choices make it keep honest width at the bounds, all of which the coverage
    simulation (tests/stats/test_interval_coverage.py, benchmarks/bench_interval_coverage.py)
    checks:

    - n_eff lies between m, the number of instances, and the draws' count N (the harmonic form
      m**2 / sum(1 / draws) when draws differ): m is its worst case, every instance all right or
      all wrong, and N its best, every draw independent.
    - When every draw is wrong (or every draw right) the variance is 0 and says nothing about the
      design effect, so n_eff is its worst case m: the interval is Clopper-Pearson's for 0 of m
      (or m of m), which covers whatever the draws' dependence, since the first draws alone are m
      independent trials.
    - Each bound takes its degrees of freedom from the instances that keep the estimate off the
      bound it approaches: those with a right draw for the upper bound, a wrong one for the lower,
      minus one (Korn and Graubard use m - 1 for both). A handful of instances away from 0 cannot
      tell a model that is right on a few instances now and then from one that is always right on
      a few unseen ones; with few degrees of freedom n_eff falls towards m, as it should.

    With fewer than two instances the spread between instances is unknown, so the whole range is
    returned.
    """
    check_confidence(confidence)
    m = len(instances)
    for draws, right in instances:
        if not 0 <= right <= draws or draws < 1:
            raise ValueError(f"need 0 <= right <= draws and draws >= 1, got {right} of {draws}")
    if m < 2:
        return (0.0, 1.0)
    shares = [right / draws for draws, right in instances]
    p = math.fsum(shares) / m
    if p <= 0.0 or p >= 1.0:
        return clopper_pearson(m * p, m, confidence)
    total = sum(draws for draws, _ in instances)
    independent = m * m / math.fsum(1.0 / draws for draws, _ in instances)
    variance = math.fsum((x - p) ** 2 for x in shares) / (m * (m - 1))
    n_eff = min(independent, p * (1.0 - p) / variance) if variance > 0 else independent
    quantile = 0.5 + confidence / 2.0
    t_all = t_ppf(quantile, total - 1)  # total >= m >= 2

    def effective(off_bound: int) -> float:
        df = min(max(off_bound - 1, 1), m - 1)
        return min(max(n_eff * (t_all / t_ppf(quantile, df)) ** 2, m), independent)

    n_low = effective(sum(1 for draws, right in instances if right < draws))
    n_high = effective(sum(1 for _, right in instances if right > 0))
    return (_cp_low(n_low * p, n_low, confidence), _cp_high(n_high * p, n_high, confidence))
