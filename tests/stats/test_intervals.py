"""Wilson and clustered intervals checked against scipy and a published value, never against our
own formula."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from gapbench.stats.intervals import clustered_mean_interval, wilson_interval, z_for_confidence

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


# --- clustered (several draws per instance) -----------------------------------------------------


def _scipy_clustered(means: list[float], confidence: float) -> tuple[float, float]:
    mean = float(np.mean(means))
    half = float(scipy_stats.norm.ppf(0.5 + confidence / 2)) * float(scipy_stats.sem(means))
    return max(0.0, mean - half), min(1.0, mean + half)


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(
    "means",
    [
        [0.0, 1.0],
        [0.25, 0.5, 0.75, 1.0],
        [0.2, 0.4, 0.4, 0.6, 0.6, 0.6, 0.8],
        [0.5] * 9 + [0.75],
        [1.0] * 30 + [0.9],
        [0.0] * 30 + [0.1],
    ],
)
def test_clustered_interval_matches_scipy_sem(means: list[float], confidence: float) -> None:
    low, high = clustered_mean_interval(means, confidence)
    want_low, want_high = _scipy_clustered(means, confidence)
    assert low == pytest.approx(want_low, rel=1e-12, abs=1e-15)
    assert high == pytest.approx(want_high, rel=1e-12, abs=1e-15)


@given(st.lists(st.integers(0, 8).map(lambda c: c / 8), min_size=2, max_size=200))
def test_clustered_interval_property_matches_scipy(means: list[float]) -> None:
    low, high = clustered_mean_interval(means)
    want_low, want_high = _scipy_clustered(means, 0.95)
    assert low == pytest.approx(want_low, rel=1e-9, abs=1e-12)
    assert high == pytest.approx(want_high, rel=1e-9, abs=1e-12)
    assert 0.0 <= low <= sum(means) / len(means) + 1e-12
    assert sum(means) / len(means) - 1e-12 <= high <= 1.0


def test_clustered_interval_is_clipped_and_knows_nothing_from_one_instance() -> None:
    assert clustered_mean_interval([0.0, 1.0]) == (0.0, 1.0)  # +-z*0.5 around 0.5
    assert clustered_mean_interval([]) == (0.0, 1.0)
    assert clustered_mean_interval([0.75]) == (0.0, 1.0)
    assert clustered_mean_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)


def test_clustered_interval_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        clustered_mean_interval([0.5, 1.5])
    with pytest.raises(ValueError):
        clustered_mean_interval([0.5, 0.25], 95)
