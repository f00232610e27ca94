"""Confidence intervals for a single model's accuracy.

Standard library only: the default install carries no numpy/scipy, and these formulas are small.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from statistics import NormalDist


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


def clustered_mean_interval(
    cluster_means: Sequence[float], confidence: float = 0.95
) -> tuple[float, float]:
    """Normal interval for a mean accuracy whose samples come in clusters, as (low, high).

    With several draws per instance the draws of one instance are not independent (an easy
    instance is right in most of them), so a binomial interval over all draws would be too
    narrow. Following Miller (2024), "Adding Error Bars to Evals", the unit is the instance: the
    estimate is the mean of the per-instance means, its standard error their sample standard
    deviation over sqrt(number of instances). Clipped to [0, 1], since accuracies cannot leave
    it. With fewer than two instances the spread is unknown, so the whole range is returned.
    """
    z = z_for_confidence(confidence)
    m = len(cluster_means)
    for value in cluster_means:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"cluster means must be fractions between 0 and 1, got {value!r}")
    if m < 2:
        return (0.0, 1.0)
    mean = math.fsum(cluster_means) / m
    variance = math.fsum((x - mean) ** 2 for x in cluster_means) / (m - 1)
    half_width = z * math.sqrt(variance / m)
    return (max(0.0, mean - half_width), min(1.0, mean + half_width))
