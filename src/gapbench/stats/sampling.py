"""Binomial and multinomial draws from a `random.Random`, in time independent of n.

Why: a paired bootstrap over many models (ranks, the gap between origins) depends only on how
many times a resample draws each pattern of right and wrong answers, and those counts are one
multinomial draw. Drawing n indices per resample instead made the report's rank and origin-gap
intervals grow with samples x resamples: about 45 s for 100,000 samples (docs/benchmarks.md).

`binomial` is the algorithm of CPython 3.12's `random.binomialvariate` (Devroye's geometric
method below n*p = 10, Hormann's BTRS transformed rejection above), written out because this
project supports Python 3.11, which lacks it, and so that a seed gives the same intervals on every
Python version. Tests check its distribution against scipy.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Sequence


def binomial(rng: random.Random, n: int, p: float) -> int:
    """One draw of Binomial(n, p)."""
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p!r}")
    if p == 0.0 or n == 0:
        return 0
    if p == 1.0:
        return n
    if n == 1:
        return int(rng.random() < p)
    if p > 0.5:  # symmetry, so that p <= 1/2 below
        return n - binomial(rng, n, 1.0 - p)
    if n * p < 10.0:
        # Devroye's geometric method: the gaps between successes are geometric; O(n p).
        successes = position = 0
        log_q = math.log(1.0 - p)
        if not log_q:
            return 0
        while True:
            position += math.floor(math.log(rng.random()) / log_q) + 1
            if position > n:
                return successes
            successes += 1
    return _btrs(rng, n, p)


def _btrs(rng: random.Random, n: int, p: float) -> int:
    """Hormann (1993), "The generation of binomial random variates", BTRS, for n p >= 10 and
    p <= 1/2; the log(v) in the acceptance test follows CPython's correction of the paper."""
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    log_odds = math.log(p / (1.0 - p))
    mode = math.floor((n + 1) * p)
    h = math.lgamma(mode + 1) + math.lgamma(n - mode + 1)
    while True:
        u = rng.random() - 0.5
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        v = rng.random()
        if us >= 0.07 and v <= v_r:
            return k  # the squeeze: accepted without evaluating the pmf
        v *= alpha / (a / (us * us) + b)
        if math.log(v) <= h - math.lgamma(k + 1) - math.lgamma(n - k + 1) + (k - mode) * log_odds:
            return k


def multinomial(rng: random.Random, n: int, weights: Sequence[int]) -> list[int]:
    """One draw of Multinomial(n, weights / sum(weights)) for non-negative integer weights, as a
    chain of conditional binomials: the count of category i is Binomial(n left, weight i / weight
    left)."""
    if any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative")
    left_weight = sum(weights)
    if left_weight == 0:
        raise ValueError("weights must not all be zero")
    counts = []
    left = n
    for w in weights:
        k = binomial(rng, left, min(1.0, w / left_weight)) if left and left_weight else 0
        counts.append(k)
        left -= k
        left_weight -= w
    counts[-1] += left  # only rounding can leave any: the last category's p is exactly 1
    return counts
