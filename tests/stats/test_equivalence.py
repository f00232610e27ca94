"""Equivalence verdicts: the matched-pairs score test against an independent scipy implementation
and against statsmodels' paired TOST where both should agree, its size at the margin by exact
enumeration (where the t-based TOST is too liberal), and the "N more instances" estimate by
simulation: followed, it settles the verdict at least about half the time."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.weightstats import ttost_paired

from gapbench.cli.options import DEFAULT_MARGIN_PTS
from gapbench.stats.equivalence import (
    DEFAULT_MARGIN,
    about,
    check_margin,
    classify,
    more_instances,
    score_interval,
    score_z,
    tost,
)
from gapbench.stats.paired import compare_paired


def scipy_score_z(n: int, only_a: int, only_b: int, gap: float) -> float:
    """Independently: maximise the multinomial likelihood of (only A, only B, agree) with cell
    chances (q + gap, q, 1 - 2q - gap) numerically, then the score statistic with that variance."""
    low, high = max(0.0, -gap), (1.0 - gap) / 2.0

    def negative_loglik(q: float) -> float:
        cells = np.array([q + gap, q, 1.0 - 2.0 * q - gap])
        counts = np.array([only_a, only_b, n - only_a - only_b])
        cells = np.clip(cells, 1e-300, None)
        return -float(np.sum(counts * np.log(cells)))

    q = optimize.minimize_scalar(
        negative_loglik, bounds=(low + 1e-12, high - 1e-12), method="bounded",
        options={"xatol": 1e-13},
    ).x  # fmt: skip
    variance = n * (2.0 * q + gap - gap * gap)
    return (only_a - only_b - n * gap) / math.sqrt(variance)


@pytest.mark.parametrize(
    ("n", "only_a", "only_b", "gap"),
    [(60, 4, 2, 0.05), (60, 4, 2, -0.05), (400, 40, 31, 0.03), (30, 9, 1, 0.1), (1000, 5, 0, 0.0)],
)
def test_score_statistic_matches_a_numerical_maximum_likelihood(
    n: int, only_a: int, only_b: int, gap: float
) -> None:
    assert score_z(n, only_a, only_b, gap) == pytest.approx(
        scipy_score_z(n, only_a, only_b, gap), rel=1e-5, abs=1e-6
    )


@pytest.mark.parametrize(("n", "only_a", "only_b"), [(60, 4, 2), (400, 40, 31), (30, 9, 1)])
def test_score_interval_is_where_the_test_stops_rejecting(n: int, only_a: int, only_b: int) -> None:
    z = stats.norm.ppf(0.95)
    estimate = (only_a - only_b) / n
    low = optimize.brentq(lambda g: scipy_score_z(n, only_a, only_b, g) - z, -0.99, estimate)
    high = optimize.brentq(lambda g: scipy_score_z(n, only_a, only_b, g) + z, estimate, 0.99)
    ours = score_interval(n, only_a, only_b, 0.90)
    assert ours == pytest.approx((low, high), abs=1e-5)


@pytest.mark.parametrize(("n", "only_a", "only_b"), [(4000, 700, 660), (3000, 450, 480)])
def test_tost_agrees_with_statsmodels_when_discordant_pairs_are_many(
    n: int, only_a: int, only_b: int
) -> None:
    a = np.array([1] * only_a + [0] * only_b + [1] * ((n - only_a - only_b) // 2), dtype=float)
    b = np.array([0] * only_a + [1] * only_b + [1] * ((n - only_a - only_b) // 2), dtype=float)
    a = np.concatenate([a, np.zeros(n - len(a))])
    b = np.concatenate([b, np.zeros(n - len(b))])
    p_statsmodels, _, _ = ttost_paired(a, b, -DEFAULT_MARGIN, DEFAULT_MARGIN)
    ours = tost(n, only_a, only_b, DEFAULT_MARGIN)
    assert ours.p_value == pytest.approx(p_statsmodels, abs=0.003)
    # TOST at 5% is the 90% interval inside the margin.
    assert (ours.p_value < 0.05) == (ours.low > -DEFAULT_MARGIN and ours.high < DEFAULT_MARGIN)


def _declares_equivalent_exactly(
    n: int, p_a: float, p_b: float, margin: float, t_test: bool
) -> float:
    """P(the test declares equivalence) summed over every table of n pairs with cell chances
    p_a (only A right), p_b (only B right)."""
    total = 0.0
    for only_a in range(n + 1):
        for only_b in range(n + 1 - only_a):
            chance = stats.multinomial.pmf(
                [only_a, only_b, n - only_a - only_b], n, [p_a, p_b, 1 - p_a - p_b]
            )
            if chance < 1e-14:
                continue
            if t_test:
                # statsmodels itself: with no discordant pair the differences have no variance,
                # t is infinite and the p-value 0, so it declares equivalence from no evidence.
                diffs = np.array([1.0] * only_a + [-1.0] * only_b + [0.0] * (n - only_a - only_b))
                with np.errstate(divide="ignore", invalid="ignore"):
                    p, _, _ = ttost_paired(diffs, np.zeros(n), -margin, margin)
                declared = bool(p < 0.05)
            else:
                declared = tost(n, only_a, only_b, margin).p_value < 0.05
            total += chance if declared else 0.0
    return total


@pytest.mark.parametrize(("n", "discordant"), [(20, 0.05), (40, 0.1), (100, 0.1), (100, 0.3)])
def test_the_score_tost_keeps_its_size_at_the_margin(n: int, discordant: float) -> None:
    # A true gap of exactly +margin: declaring equivalence is the error the test must bound.
    margin = 0.05
    p_a = (discordant + margin) / 2
    p_b = (discordant - margin) / 2
    if p_b < 0:
        p_a, p_b = discordant, 0.0  # all discordant pairs one way: the gap is the discordance
        margin = discordant
    size = _declares_equivalent_exactly(n, p_a, p_b, margin, t_test=False)
    assert size <= 0.05 + 1e-9, f"size {size:.3f} at n={n}, discordant {discordant}"


def test_the_t_based_tost_is_too_liberal_with_few_discordant_pairs() -> None:
    # The reason the module docstring gives for not using ttost_paired: 20 pairs, 5% of them
    # discordant and all one way, so the true gap is 5 points, exactly the margin; 0.95**20 = 36%
    # of the tables have no discordant pair at all.
    size_t = _declares_equivalent_exactly(20, 0.05, 0.0, 0.05, t_test=True)
    size_score = _declares_equivalent_exactly(20, 0.05, 0.0, 0.05, t_test=False)
    assert size_t == pytest.approx(0.95**20, abs=0.01)
    assert size_score <= 0.05


def test_classify_orders_equivalence_before_a_lead() -> None:
    # A small real lead inside the margin is still 'equivalent'.
    assert classify(0.02, (0.01, 0.04), (0.005, 0.045), 0.05) == "equivalent"
    assert classify(0.12, (0.08, 0.16), (0.07, 0.17), 0.05) == "ahead"
    assert classify(-0.12, (-0.16, -0.08), (-0.17, -0.07), 0.05) == "behind"
    assert classify(0.01, (-0.06, 0.08), (-0.07, 0.09), 0.05) == "inconclusive"
    assert classify(0.0, (-0.05, 0.03), (-0.06, 0.04), 0.05) == "inconclusive"  # on the edge
    for bad in (0.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError):
            check_margin(bad)


def test_caught_up_verdict_reads_from_a_side() -> None:
    rng = random.Random(3)
    a = [rng.random() < 0.6 for _ in range(3000)]
    b = [x if rng.random() < 0.9 else not x for x in a]  # 10% disagreement, no real gap
    result = compare_paired("A", "B", a, b)
    assert result.kind == "equivalent"
    assert result.verdict.startswith("A has caught up with B: the gap is within ±5.0 pts (A - B = ")
    assert f"n={len(a)}" in result.verdict
    assert -0.05 < result.eq_low < result.eq_high < 0.05


def test_the_default_margin_is_the_one_the_cli_states() -> None:
    assert pytest.approx(100 * DEFAULT_MARGIN) == DEFAULT_MARGIN_PTS


def test_about_rounds_up_to_two_digits() -> None:
    assert [about(x) for x in (0.2, 3, 87.2, 100, 1234.5, 99_001)] == [1, 3, 88, 100, 1300, 100_000]


def _pairs(rng: np.random.Generator, n: int, p_a: float, p_b: float) -> tuple[int, int]:
    counts = rng.multinomial(n, [p_a, p_b, 1 - p_a - p_b])
    return int(counts[0]), int(counts[1])


@pytest.mark.parametrize(
    ("gap", "discordant"),
    [(0.15, 0.3), (0.08, 0.2), (0.0, 0.1), (0.02, 0.08), (-0.1, 0.25)],
)
def test_following_the_estimate_settles_about_half_the_verdicts_or_more(
    gap: float, discordant: float
) -> None:
    rng = np.random.default_rng(11)
    p_a, p_b = (discordant + gap) / 2, (discordant - gap) / 2
    tried = settled = 0
    for _ in range(400):
        n = 40
        only_a, only_b = _pairs(rng, n, p_a, p_b)
        first = _kind(n, only_a, only_b)
        if first != "inconclusive":
            continue
        more = more_instances(n, only_a, only_b, DEFAULT_MARGIN)
        if more > 20_000:
            continue  # a user told "20,000 more" would not follow it; keep the test fast
        extra_a, extra_b = _pairs(rng, more, p_a, p_b)
        tried += 1
        settled += _kind(n + more, only_a + extra_a, only_b + extra_b) != "inconclusive"
        if tried == 60:
            break
    assert tried >= 30
    assert settled / tried >= 0.45, f"settled {settled}/{tried}"


def _kind(n: int, only_a: int, only_b: int) -> str:
    a = [True] * only_a + [False] * only_b + [True] * (n - only_a - only_b)
    b = [False] * only_a + [True] * only_b + [True] * (n - only_a - only_b)
    return compare_paired("A", "B", a, b, n_resamples=2000).kind
