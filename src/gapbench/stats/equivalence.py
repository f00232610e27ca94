"""Equivalence: has model A caught up with model B, within a margin?

A paired verdict is one of four kinds, always named from A's side:

- `equivalent`: the 90% interval of the paired difference lies inside ±margin. That is the
  two one-sided tests (TOST; Schuirmann 1987) at 5% each: the gap is shown to be above -margin
  and below +margin. A small real lead inside the margin is still `equivalent`.
- `ahead` / `behind`: otherwise, the 95% interval excludes zero.
- `inconclusive`: neither yet; `more_instances` says about how many paired instances more would
  settle it.

The equivalence test is the score test for matched pairs of Nam (1997) and Tango (1998): each
one-sided null (gap = -margin, gap = +margin) is tested with the variance of the per-instance
differences estimated under that null (the restricted maximum-likelihood cell probabilities, in
closed form), and the 90% interval is Tango's score interval, the gaps that neither one-sided
test rejects. Why not the plain paired t test (statsmodels' ttost_paired): with few discordant
pairs the t test's variance is estimated from them and comes out small by chance (zero, with no
discordant pair: statsmodels then gives p = 0), and at a true gap of exactly the margin it
declares equivalence 36% of the time (20 pairs, 5% of them discordant and all one way;
tests/stats/test_equivalence.py enumerates it exactly). The score
test stays at or below 5% on that grid, and agrees with ttost_paired once discordant pairs are
many (the tests check both).

Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

DEFAULT_MARGIN = 0.05
"""Five points. Why: on this project's offline models, rewording the same instruction moved one
model's accuracy by 5-30 points (docs/benchmarks.md, prompt styles), and published work finds
spreads of that size across prompt formats (Sclar et al. 2023) and seeds (Madaan et al. 2024): a
gap under 5 points is below what the prompt alone moves, so calling such models level is fair.
It is also within reach: for two models that disagree on 30% of instances and are truly level,
about 1,000 paired instances give 80% power to show it, where a 3-point margin needs about
2,900 (normal approximation)."""

MIN_MARGIN_PTS = 0.0
MAX_MARGIN_PTS = 100.0

Kind = Literal["ahead", "behind", "equivalent", "inconclusive"]
KINDS: tuple[Kind, ...] = ("ahead", "behind", "equivalent", "inconclusive")

EQUIVALENCE_CONFIDENCE = 0.90
"""TOST at 5% on each side is the 90% interval inside the margin."""

TOST_ALPHA = 0.05
"""Each one-sided test's level."""


def check_margin(margin: float) -> None:
    """Raise ValueError unless the margin (a fraction) is above 0 and at most 1 (100 points)."""
    if not (math.isfinite(margin) and 0.0 < margin <= 1.0):
        raise ValueError(f"margin must be a fraction in (0, 1], got {margin!r}")


def classify(
    diff: float, ci90: tuple[float, float], ci95: tuple[float, float], margin: float
) -> Kind:
    """The kind of a paired verdict of A against B, from A's side.

    `diff` is A minus B (a fraction), `ci90` its 90% interval (for equivalence), `ci95` its 95%
    interval (for a lead), `margin` the equivalence margin as a fraction (0.05 for 5 points).
    Equivalence is checked first: a small real lead inside the margin is `equivalent`. Bounds on
    the margin itself do not count as inside it (the tests are strict).
    """
    check_margin(margin)
    if not (math.isfinite(diff) and -1.0 <= diff <= 1.0):
        raise ValueError(f"diff must be a fraction in [-1, 1], got {diff!r}")
    for low, high in (ci90, ci95):
        if not low <= high:
            raise ValueError(f"an interval must have low <= high, got ({low!r}, {high!r})")
    if -margin < ci90[0] and ci90[1] < margin:
        return "equivalent"
    if ci95[0] > 0.0:
        return "ahead"
    if ci95[1] < 0.0:
        return "behind"
    return "inconclusive"


@dataclass(frozen=True)
class Equivalence:
    """The paired TOST of |A - B| < margin."""

    low: float
    high: float
    """Tango's 90% score interval for A - B (a fraction)."""
    p_value: float
    """The larger of the two one-sided p-values: below 0.05 exactly when (low, high) lies inside
    ±margin."""


def _check_table(n: int, only_a: int, only_b: int) -> None:
    if n < 0 or only_a < 0 or only_b < 0 or only_a + only_b > n:
        raise ValueError(f"need 0 <= only_a + only_b <= n, got n={n}, {only_a}, {only_b}")


def score_z(n: int, only_a: int, only_b: int, gap: float) -> float:
    """The matched-pairs score statistic for the null "A - B = gap" (Nam 1997, Tango 1998):
    (only_a - only_b - n * gap) / sqrt(n * (p10 + p01 - gap**2)), with p10 and p01, the chances
    that only A or only B is right, at their maximum-likelihood values under the null. It falls
    as `gap` rises; large and positive when the data say A - B is above `gap`."""
    _check_table(n, only_a, only_b)
    if not -1.0 <= gap <= 1.0:
        raise ValueError(f"gap must lie in [-1, 1], got {gap!r}")
    if gap < 0:
        return -score_z(n, only_b, only_a, -gap)  # the same test with A and B swapped
    if n == 0:
        return 0.0
    # Setting the derivative of the log-likelihood b log(p01 + gap) + c log p01
    # + (n - b - c) log(1 - 2 p01 - gap) to zero gives A p01**2 + B p01 + C = 0 (Tango 1998).
    b, c = only_a, only_b
    quad_a = 2.0 * n
    quad_b = -(b + c) + (2.0 * n - b + c) * gap
    quad_c = -c * gap * (1.0 - gap)
    p01 = (-quad_b + math.sqrt(max(0.0, quad_b * quad_b - 4.0 * quad_a * quad_c))) / (2 * quad_a)
    variance = n * (2.0 * p01 + gap - gap * gap)
    excess = b - c - n * gap
    if variance <= 0.0:
        return 0.0 if excess == 0 else math.copysign(math.inf, excess)
    return excess / math.sqrt(variance)


def score_interval(n: int, only_a: int, only_b: int, confidence: float) -> tuple[float, float]:
    """Tango's (1998) score interval for A - B: the gaps whose two-sided score test at
    1 - confidence does not reject, found by bisection (score_z falls with the gap)."""
    if n == 0:
        return (-1.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    estimate = (only_a - only_b) / n

    def edge(inside: float, outside: float, rejects: float) -> float:
        # The point between `inside` (not rejected) and `outside` where the test starts to.
        if abs(score_z(n, only_a, only_b, outside)) < rejects:
            return outside
        for _ in range(60):
            middle = (inside + outside) / 2.0
            if abs(score_z(n, only_a, only_b, middle)) < rejects:
                inside = middle
            else:
                outside = middle
        return (inside + outside) / 2.0

    return (edge(estimate, -1.0, z), edge(estimate, 1.0, z))


def tost(n: int, only_a: int, only_b: int, margin: float) -> Equivalence:
    """Paired TOST of -margin < A - B < margin from n pairs, `only_a` of which only A got right
    and `only_b` only B, by the score test (see the module docstring)."""
    check_margin(margin)
    _check_table(n, only_a, only_b)
    low, high = score_interval(n, only_a, only_b, EQUIVALENCE_CONFIDENCE)
    if n == 0:
        return Equivalence(low, high, 1.0)
    normal = NormalDist()
    p_low = 1.0 - normal.cdf(score_z(n, only_a, only_b, -margin))  # H0: A - B <= -margin
    p_high = normal.cdf(score_z(n, only_a, only_b, margin))  # H0: A - B >= +margin
    return Equivalence(low, high, max(p_low, p_high))


SETTLE_POWER = 0.8
"""The chance, if the gap and the disagreement rate are what they look like so far, that the
suggested number of instances settles the verdict."""


def more_instances(n: int, only_a: int, only_b: int, margin: float, alpha: float = 0.05) -> int:
    """About how many more paired instances would settle an inconclusive verdict: the fewer of
    those a lead (two-sided at `alpha`) and equivalence (TOST at 5%) would need for 80% power,
    by the normal approximation, if the gap and the disagreement rate stay as observed. Both
    are read off the table with half a pair added to each cell (Agresti and Min 2005), so that
    a table with no disagreement yet still gives a finite figure. Rounded up to two significant
    digits; at least one."""
    check_margin(margin)
    _check_table(n, only_a, only_b)
    weight = n + 2.0
    gap = (only_a - only_b) / weight
    disagree = (only_a + only_b + 1.0) / weight
    sd = math.sqrt(max(disagree - gap * gap, 1e-12))
    normal = NormalDist()
    z_power = normal.inv_cdf(SETTLE_POWER)
    needs = []
    if gap != 0.0:
        needs.append(((normal.inv_cdf(1 - alpha / 2) + z_power) * sd / abs(gap)) ** 2)
    if abs(gap) < margin:
        z_tost = normal.inv_cdf(1 - TOST_ALPHA)
        needs.append(((z_tost + z_power) * sd / (margin - abs(gap))) ** 2)
    return about(max(1.0, min(needs) - n))


def about(count: float) -> int:
    """`count` rounded up to two significant digits: 1234.5 -> 1300, 87.2 -> 88, 3 -> 3."""
    whole = math.ceil(count)
    if whole < 100:
        return max(whole, 1)
    step: int = 10 ** (len(str(whole)) - 2)
    return -(-whole // step) * step


def format_margin(margin: float) -> str:
    """'±5.0 pts' for 0.05."""
    return f"±{100 * margin:.1f} pts"
