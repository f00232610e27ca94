"""The pure-Python beta and t quantiles against scipy's, over the shapes the intervals use and far
beyond: tiny shapes (a fractional success count), huge ones (a million draws), both tails."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special as scipy_special
from scipy import stats as scipy_stats

from gapbench.stats.special import beta_ppf, betainc, t_ppf

SHAPES = [1e-3, 0.05, 0.5, 1.0, 1.5, 3.7, 10.0, 163.9, 1e3, 1e5, 1e6]
PROBABILITIES = [1e-6, 0.0125, 0.025, 0.5, 0.975, 0.9875, 1 - 1e-6]


def close(mine: float, ref: float, rel: float) -> bool:
    """Equal to `rel`, measured against the nearer end of [0, 1] (a quantile near 1 is checked
    on 1 - x, where its information is)."""
    if ref > 0.5:
        # Floats near 1 are 1.1e-16 apart, and 1 - x comes out of a CDF evaluated at x: it
        # cannot be known to better than some tens of those steps.
        return abs(mine - ref) <= rel * (1.0 - ref) + 1e-14
    return abs(mine - ref) <= rel * ref or abs(mine - ref) <= 1e-300


def quantile_ok(q: float, a: float, b: float, rel: float = 1e-9) -> bool:
    """Our quantile agrees with scipy's, or else scipy's own CDF puts it at q, as closely as a
    CDF with shapes near a million can be computed in floats: for such shapes scipy's ppf stops
    a few digits short (at q=0.975, a=1000, b=1e6 its quantile has CDF 0.9749999943 by mpmath,
    ours 0.9750000000001)."""
    mine, ref = beta_ppf(q, a, b), float(scipy_stats.beta.ppf(q, a, b))
    if close(mine, ref, rel):
        return True
    at = float(scipy_special.betainc(a, b, mine))
    return abs(at - q) <= 1e-10 * min(q, 1.0 - q)


@pytest.mark.parametrize(("a", "b"), list(itertools.product(SHAPES, SHAPES)))
def test_beta_ppf_matches_scipy(a: float, b: float) -> None:
    for q in PROBABILITIES:
        assert quantile_ok(q, a, b), (q, a, b, beta_ppf(q, a, b), scipy_stats.beta.ppf(q, a, b))


@given(
    st.floats(0.01, 2000.0),
    st.floats(0.01, 2000.0),
    st.floats(1e-4, 1 - 1e-4),
)
@settings(max_examples=300, deadline=None)
def test_beta_ppf_property_matches_scipy(a: float, b: float, q: float) -> None:
    assert quantile_ok(q, a, b)


@pytest.mark.parametrize(("a", "b"), list(itertools.product(SHAPES[1:-1], SHAPES[1:-1])))
def test_betainc_matches_scipy(a: float, b: float) -> None:
    for x in (1e-9, 1e-3, 0.1, 0.5, 0.9, 0.999):
        ref = float(scipy_special.betainc(a, b, x))
        if ref > 1e-250:
            assert close(betainc(a, b, x), ref, 1e-9), (a, b, x)


def test_betainc_and_ppf_ends_and_bad_arguments() -> None:
    assert betainc(2.0, 3.0, 0.0) == 0.0 and betainc(2.0, 3.0, 1.0) == 1.0
    assert beta_ppf(0.0, 2.0, 3.0) == 0.0 and beta_ppf(1.0, 2.0, 3.0) == 1.0
    for a, b in ((0.0, 1.0), (1.0, -1.0), (math.nan, 1.0), (1.0, math.inf)):
        with pytest.raises(ValueError):
            beta_ppf(0.5, a, b)
    with pytest.raises(ValueError):
        beta_ppf(1.5, 1.0, 1.0)


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 29, 99, 163, 999, 1000, 1639, 1e5, 1e7, 1e12])
def test_t_ppf_matches_scipy(df: float) -> None:
    for p in (0.6, 0.9, 0.975, 0.9875, 0.995, 0.9995, 0.025, 0.1):
        ref = float(scipy_stats.t.ppf(p, df))
        assert t_ppf(p, df) == pytest.approx(ref, rel=1e-10), (p, df)
    assert t_ppf(0.5, df) == 0.0


def test_t_ppf_rejects_bad_arguments() -> None:
    for p, df in ((0.0, 3), (1.0, 3), (0.5, 0), (0.9, -1)):
        with pytest.raises(ValueError):
            t_ppf(p, df)
