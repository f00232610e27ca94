"""Wilson, Clopper-Pearson and the clustered pass@1 interval checked against scipy and a published
value, never against our own formulas (coverage by simulation is in test_interval_coverage.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from gapbench.stats.intervals import (
    clopper_pearson,
    clustered_pass_interval,
    wilson_interval,
    z_for_confidence,
)

GRID = [
    (0, 1),
    (1, 1),
    (0, 10),
    (10, 10),
    (1, 10),
    (5, 10),
    (9, 10),
    (3, 17),
    (81, 263),
    (0, 1000),
    (1, 1000),
    (500, 1000),
    (999, 1000),
    (1000, 1000),
]


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize(("successes", "n"), GRID)
def test_wilson_matches_scipy(successes: int, n: int, confidence: float) -> None:
    expected = scipy_stats.binomtest(successes, n).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    low, high = wilson_interval(successes, n, confidence)
    assert low == pytest.approx(float(expected.low), rel=1e-12, abs=1e-15)
    assert high == pytest.approx(float(expected.high), rel=1e-12, abs=1e-15)


def test_wilson_published_value() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, example 81/263 -> 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=5e-5)
    assert high == pytest.approx(0.3662, abs=5e-5)


def test_wilson_extremes_are_pinned_to_the_unit_interval() -> None:
    assert wilson_interval(0, 50)[0] == 0.0
    assert wilson_interval(50, 50)[1] == 1.0
    for k in range(0, 51):
        low, high = wilson_interval(k, 50)
        assert 0.0 <= low <= k / 50 <= high <= 1.0


def test_wilson_empty_sample_knows_nothing() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_z_matches_scipy_normal_quantile() -> None:
    for confidence in (0.5, 0.9, 0.95, 0.99, 0.999):
        expected = float(scipy_stats.norm.ppf(0.5 + confidence / 2))
        assert z_for_confidence(confidence) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("successes", "n", "confidence"),
    [(-1, 10, 0.95), (11, 10, 0.95), (0, -1, 0.95), (5, 10, 95), (5, 10, 0.0), (5, 10, 1.0)],
)
def test_wilson_rejects_bad_arguments(successes: int, n: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, n, confidence)


def test_wilson_rejects_non_integer_counts() -> None:
    with pytest.raises(TypeError):
        wilson_interval(2.5, 10)  # type: ignore[arg-type]


# --- Clopper-Pearson ------------------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(("successes", "n"), GRID)
def test_clopper_pearson_matches_scipy_exact(successes: int, n: int, confidence: float) -> None:
    expected = scipy_stats.binomtest(successes, n).proportion_ci(
        confidence_level=confidence, method="exact"
    )
    low, high = clopper_pearson(successes, n, confidence)
    assert low == pytest.approx(float(expected.low), rel=1e-9, abs=1e-15)
    assert high == pytest.approx(float(expected.high), rel=1e-9, abs=1e-15)


def test_clopper_pearson_fractional_counts_match_scipy_beta() -> None:
    for x, n in ((0.3, 17.5), (12.25, 40.0), (163.2, 164.0), (0.01, 1640.0)):
        low, high = clopper_pearson(x, n)
        assert low == pytest.approx(float(scipy_stats.beta.ppf(0.025, x, n - x + 1)), rel=1e-9)
        assert high == pytest.approx(float(scipy_stats.beta.ppf(0.975, x + 1, n - x)), rel=1e-9)


@pytest.mark.parametrize(("successes", "n"), [(-1, 10), (11, 10), (1, 0), (0, float("inf"))])
def test_clopper_pearson_rejects_bad_counts(successes: float, n: float) -> None:
    with pytest.raises(ValueError):
        clopper_pearson(successes, n)


# --- clustered pass@1 (several draws per instance) ------------------------------------------------


def reference_interval(
    instances: list[tuple[int, int]], confidence: float = 0.95
) -> tuple[float, float]:
    """The interval as the docstring of clustered_pass_interval specifies it, written with numpy
    and scipy: Korn-Graubard (R survey's svyciprop(method = "beta")) with n_eff kept within
    [m, m**2 / sum(1 / draws)], Clopper-Pearson on m instances at the bounds, and degrees of
    freedom from the instances off each bound."""
    draws = np.array([d for d, _ in instances], dtype=float)
    right = np.array([r for _, r in instances], dtype=float)
    shares = right / draws
    m, alpha = len(shares), 1 - confidence
    p = float(shares.mean())
    if p in (0.0, 1.0):
        ci = scipy_stats.binomtest(round(p * m), m).proportion_ci(confidence, method="exact")
        return float(ci.low), float(ci.high)
    independent = m * m / float(np.sum(1 / draws))
    variance = float(shares.var(ddof=1)) / m
    n_eff = min(independent, p * (1 - p) / variance) if variance > 0 else independent
    t_all = scipy_stats.t.ppf(1 - alpha / 2, draws.sum() - 1)

    def effective(off_bound: int) -> float:
        df = min(max(off_bound - 1, 1), m - 1)
        scaled = n_eff * (t_all / scipy_stats.t.ppf(1 - alpha / 2, df)) ** 2
        return float(np.clip(scaled, m, independent))

    n_low = effective(int(np.sum(right < draws)))
    n_high = effective(int(np.sum(right > 0)))
    low = scipy_stats.beta.ppf(alpha / 2, n_low * p, n_low * (1 - p) + 1)
    high = scipy_stats.beta.ppf(1 - alpha / 2, n_high * p + 1, n_high * (1 - p))
    return float(low), float(high)


CLUSTERED = [
    [(4, 0), (4, 4)],
    [(3, 1), (3, 2), (3, 0), (3, 3)],
    [(10, 0)] * 163 + [(10, 1)],
    [(10, 0)] * 99 + [(10, 10)],
    [(3, 0)] * 25 + [(3, 1), (3, 2), (3, 3), (3, 3), (3, 1)],
    [(3, 3)] * 28 + [(3, 2), (3, 0)],
    [(5, 2), (5, 3)] * 20,
    [(5, 1), (5, 3), (5, 4), (5, 2)] * 10,
    [(4, 2), (3, 1), (4, 4), (2, 0), (4, 3), (1, 1), (4, 0)],
    [(10, 5)] * 30,
]


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("instances", CLUSTERED)
def test_clustered_interval_matches_scipy_reference(
    instances: list[tuple[int, int]], confidence: float
) -> None:
    low, high = clustered_pass_interval(instances, confidence)
    want_low, want_high = reference_interval(instances, confidence)
    assert low == pytest.approx(want_low, rel=1e-8, abs=1e-14)
    assert high == pytest.approx(want_high, rel=1e-8, abs=1e-14)


@given(
    st.lists(
        st.integers(1, 8).flatmap(lambda d: st.tuples(st.just(d), st.integers(0, d))),
        min_size=2,
        max_size=120,
    )
)
@settings(max_examples=150, deadline=None)
def test_clustered_interval_property_matches_scipy(instances: list[tuple[int, int]]) -> None:
    low, high = clustered_pass_interval(instances)
    want_low, want_high = reference_interval(instances)
    assert low == pytest.approx(want_low, rel=1e-8, abs=1e-14)
    assert high == pytest.approx(want_high, rel=1e-8, abs=1e-14)
    mean = sum(r / d for d, r in instances) / len(instances)
    assert 0.0 <= low <= mean + 1e-12 and mean - 1e-12 <= high <= 1.0


def test_every_draw_wrong_keeps_the_width_of_m_trials() -> None:
    """lm-eval#4070's flaw: all wrong gave 0.0-0.0. Here it is Clopper-Pearson for 0 of m
    instances, however many draws each had, and every draw right mirrors it."""
    for m, k in ((30, 3), (164, 10)):
        exact = scipy_stats.binomtest(0, m).proportion_ci(0.95, method="exact")
        assert clustered_pass_interval([(k, 0)] * m) == pytest.approx((0.0, exact.high))
        assert clustered_pass_interval([(k, k)] * m) == pytest.approx((1 - exact.high, 1.0))
        assert clustered_pass_interval([(k, 0)] * m)[1] > 0.02


def test_one_scattered_success_is_not_read_as_independent_draws() -> None:
    """One right draw in 1640 (164 instances, 10 draws): independent draws would put the upper
    bound at 0.34%; a model right on a few unseen instances cannot be ruled out that tightly, so
    the bound is that of 0.1 successes in 164 trials."""
    low, high = clustered_pass_interval([(10, 0)] * 163 + [(10, 1)])
    assert high == pytest.approx(float(scipy_stats.beta.ppf(0.975, 1.1, 163.9)), rel=1e-9)
    assert high > 3 * scipy_stats.binomtest(1, 1640).proportion_ci(0.95, "exact").high
    assert low > 0.0


def test_clustered_interval_knows_nothing_from_one_instance() -> None:
    assert clustered_pass_interval([]) == (0.0, 1.0)
    assert clustered_pass_interval([(5, 2)]) == (0.0, 1.0)


def test_clustered_interval_rejects_bad_arguments() -> None:
    for bad in ([(3, 4), (3, 1)], [(0, 0), (3, 1)], [(3, -1), (3, 1)]):
        with pytest.raises(ValueError):
            clustered_pass_interval(bad)
    with pytest.raises(ValueError):
        clustered_pass_interval([(3, 1), (3, 2)], 95)
