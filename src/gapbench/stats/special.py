"""The beta and Student t quantiles that the intervals need, in pure Python.

The default install carries no scipy, so these are computed here: the regularized incomplete beta
function by its continued fraction (modified Lentz), its inverse by safeguarded Newton steps inside
a bracket that halves whenever a step would leave it, and the t quantile from the beta one. They
are checked against scipy over a wide grid in tests/stats/test_special.py, never against
themselves.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

_TINY = 1e-300
"""Stands in for 0 in the continued fraction, so that no term divides by zero (Lentz's rule)."""
_EPS = 1e-15
_MAX_TERMS = 100_000
"""The fraction needs about sqrt(max(a, b)) terms; this covers a, b far past 10**9."""


def _check_shape(a: float, b: float) -> None:
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"beta shape parameters must be positive and finite, got a={a}, b={b}")


def log_beta(a: float, b: float) -> float:
    """log B(a, b) = log Gamma(a) + log Gamma(b) - log Gamma(a + b).

    With one shape large, log Gamma(b) - log Gamma(a + b) is a small difference of two huge
    numbers, and the digits it loses are multiplied by 1 / a in a tail quantile; it is then taken
    from Stirling's series, where the large terms cancel on paper instead.
    """
    a, b = min(a, b), max(a, b)
    if b < 1000.0:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    s = a + b
    difference = (
        -(b - 0.5) * math.log1p(a / b) - a * math.log(s) + a + _stirling_rest(b) - _stirling_rest(s)
    )
    return math.lgamma(a) + difference


def _stirling_rest(z: float) -> float:
    """log Gamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2), to within 1e-24 for z >= 1000."""
    return 1.0 / (12.0 * z) - 1.0 / (360.0 * z**3) + 1.0 / (1260.0 * z**5)


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (Abramowitz and Stegun 26.5.8), converging quickly
    for x < (a + 1) / (a + b + 2)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b): the beta(a, b) distribution's CDF."""
    _check_shape(a, b)
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - log_beta(a, b))
    # The fraction converges fast only on the lower side of the mode; the other side follows from
    # the symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _continued_fraction(a, b, x) / a
    return 1.0 - front * _continued_fraction(b, a, 1.0 - x) / b


def _initial_guess(q: float, a: float, b: float) -> float:
    """A start for Newton. With both shapes above 1 the beta is near normal: the normal quantile
    of the same mean and variance. Otherwise the leading term of whichever tail holds q, so that
    quantiles as small as 1e-30 (tiny a) need no long bisection."""
    if a > 1.0 and b > 1.0:
        mean = a / (a + b)
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
        guess = mean + NormalDist().inv_cdf(q) * sd
        return min(max(guess, mean / 64.0), 1.0 - (1.0 - mean) / 64.0)
    # Logs throughout: a**a underflows for shapes in the thousands.
    log_lower = a * math.log(a / (a + b)) - math.log(a)
    log_upper = b * math.log(b / (a + b)) - math.log(b)
    top = max(log_lower, log_upper)
    log_total = top + math.log(math.exp(log_lower - top) + math.exp(log_upper - top))
    if math.log(q) < log_lower - log_total:
        return math.exp((math.log(a) + log_total + math.log(q)) / a)
    return -math.expm1((math.log(b) + log_total + math.log1p(-q)) / b)


def beta_ppf(q: float, a: float, b: float) -> float:
    """The q-quantile of the beta(a, b) distribution: the x with I_x(a, b) = q."""
    _check_shape(a, b)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"a quantile's probability must lie in [0, 1], got {q}")
    if q == 0.0:
        return 0.0
    if q == 1.0:
        return 1.0
    if q > betainc(a, b, 0.5):
        # Above the median point 1/2 the answer is 1 - y for a small y, known to full relative
        # precision only from the mirrored problem: 1 - x is beta(b, a).
        return 1.0 - _lower_half_ppf(1.0 - q, b, a)
    return _lower_half_ppf(q, a, b)


def _lower_half_ppf(q: float, a: float, b: float) -> float:
    """beta_ppf for a quantile at most 1/2."""
    lo, hi = 0.0, 0.5
    x = min(max(_initial_guess(q, a, b), _TINY), 0.5)
    log_norm = log_beta(a, b)
    for _ in range(400):
        f = betainc(a, b, x) - q
        if f == 0.0:
            return x
        if f < 0.0:
            lo = x
        else:
            hi = x
        log_density = (a - 1.0) * math.log(x) + (b - 1.0) * math.log1p(-x) - log_norm
        # f / density, written so that neither an enormous nor a vanishing density overflows.
        step = f * math.exp(-log_density) if log_density > -700.0 else math.inf
        new = x - step
        if not lo < new < hi:
            # Newton left the bracket: halve it instead (geometrically near 0, where the
            # quantiles of small shape parameters live).
            new = math.sqrt(lo * hi) if lo > 0.0 and hi / lo > 4.0 else 0.5 * (lo + hi)
            if lo == 0.0:
                new = hi / 16.0
                if new == 0.0:
                    return 0.0  # the quantile lies below the smallest positive float
        if abs(new - x) <= 4.0 * _EPS * new:
            return new
        x = new
    return x


@lru_cache(maxsize=4096)
def t_ppf(p: float, df: float) -> float:
    """The p-quantile of Student's t distribution with `df` degrees of freedom.

    From the beta: T**2 / (df + T**2) has the beta(1/2, df/2) distribution, so the two-sided
    tail 2 * (1 - p) of |T| is that beta's upper tail. Cached: intervals ask for the same few
    (p, df) pairs over and over.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"a t quantile's probability must lie strictly in (0, 1), got {p}")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if p == 0.5:
        return 0.0
    if df >= 1000:
        # With many degrees of freedom the beta route loses digits (its shape is df / 2), and
        # the Cornish-Fisher expansion around the normal quantile (Abramowitz and Stegun
        # 26.7.5) is accurate to about 1e-14 here.
        x = NormalDist().inv_cdf(p)
        terms = (
            (x**3 + x) / 4,
            (5 * x**5 + 16 * x**3 + 3 * x) / 96,
            (3 * x**7 + 19 * x**5 + 17 * x**3 - 15 * x) / 384,
            (79 * x**9 + 776 * x**7 + 1482 * x**5 - 1920 * x**3 - 945 * x) / 92160,
        )
        return x + sum(term / df ** (power + 1) for power, term in enumerate(terms))
    tail = 2.0 * (1.0 - p) if p > 0.5 else 2.0 * p
    y = beta_ppf(1.0 - tail, 0.5, df / 2.0)
    t = math.sqrt(df * y / (1.0 - y))
    return t if p > 0.5 else -t
