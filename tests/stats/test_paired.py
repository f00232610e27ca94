"""Paired statistics checked against scipy, numpy brute force and hand-worked values."""

from __future__ import annotations

import json
import random
import re
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats as scipy_stats

from gapbench.stats.paired import (
    EXACT_INTEGER_LIMIT,
    _binomial_inverse_cdf_table,
    _two_sided_half_binomial_exact,
    _two_sided_half_binomial_logspace,
    compare_paired,
    format_p,
    format_pts,
    holm_adjust,
    mcnemar_exact,
    paired_bootstrap_ci,
    percentile,
)


def make_pairs(
    both: int, only_a: int, only_b: int, neither: int, seed: int = 0
) -> tuple[list[bool], list[bool]]:
    """Shuffled paired results with exactly these counts of each pair type."""
    pairs = (
        [(True, True)] * both
        + [(True, False)] * only_a
        + [(False, True)] * only_b
        + [(False, False)] * neither
    )
    random.Random(seed).shuffle(pairs)
    return [x for x, _ in pairs], [y for _, y in pairs]


# --- McNemar -----------------------------------------------------------------------------------


def scipy_mcnemar(b: int, c: int) -> float:
    if b + c == 0:
        return 1.0
    return float(scipy_stats.binomtest(min(b, c), b + c, 0.5).pvalue)


def test_mcnemar_matches_scipy_on_a_small_grid() -> None:
    for b in range(30):
        for c in range(30):
            assert mcnemar_exact(b, c) == pytest.approx(scipy_mcnemar(b, c), rel=1e-12, abs=0)


@pytest.mark.parametrize(
    ("b", "c"),
    [(2400, 2600), (2000, 3000), (2499, 2501), (2500, 2500), (1, 4999), (100, 200), (450, 550)],
)
def test_mcnemar_matches_scipy_for_large_counts(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(scipy_mcnemar(b, c), rel=1e-10, abs=0)


@pytest.mark.parametrize(("b", "c"), [(24000, 26000), (24900, 25100), (12000, 12500)])
def test_mcnemar_logspace_path_matches_scipy(b: int, c: int) -> None:
    assert b + c > EXACT_INTEGER_LIMIT
    assert mcnemar_exact(b, c) == pytest.approx(scipy_mcnemar(b, c), rel=1e-8, abs=0)


def test_mcnemar_logspace_agrees_with_exact_integers() -> None:
    for k, n in [(0, 40), (3, 40), (100, 1000), (480, 1000), (4900, 10000), (9000, 20000)]:
        exact = _two_sided_half_binomial_exact(k, n)
        assert _two_sided_half_binomial_logspace(k, n) == pytest.approx(exact, rel=1e-9)


def test_mcnemar_hand_worked_values() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == 2 / 32  # 2 * P(X = 0), X ~ Bin(5, 1/2)
    assert mcnemar_exact(2, 4) == 44 / 64  # 2 * (1 + 6 + 15) / 2**6
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(7, 2) == mcnemar_exact(2, 7)


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


# --- the binomial sampler behind the bootstrap -------------------------------------------------


@pytest.mark.parametrize(
    ("trials", "p"), [(1, 0.3), (10, 0.5), (37, 0.05), (200, 0.9), (1000, 0.17), (5000, 0.5)]
)
def test_binomial_table_matches_scipy_cdf(trials: int, p: float) -> None:
    first, cdf = _binomial_inverse_cdf_table(trials, p)
    outcomes = np.arange(first, first + len(cdf))
    np.testing.assert_allclose(cdf, scipy_stats.binom.cdf(outcomes, trials, p), atol=1e-13)
    # The mass left outside the table is far below random.random()'s 2**-53 resolution.
    assert scipy_stats.binom.cdf(first - 1, trials, p) < 1e-16
    assert scipy_stats.binom.sf(first + len(cdf) - 1, trials, p) < 1e-16


def test_binomial_table_degenerate_probabilities() -> None:
    assert _binomial_inverse_cdf_table(0, 0.4) == (0, [1.0])
    assert _binomial_inverse_cdf_table(12, 0.0) == (0, [1.0])
    assert _binomial_inverse_cdf_table(12, 1.0) == (12, [1.0])


def test_binomial_draws_pass_a_goodness_of_fit_test() -> None:
    from bisect import bisect_right

    trials, p = 60, 0.3
    first, cdf = _binomial_inverse_cdf_table(trials, p)
    rng = random.Random(123)
    draws = [first + bisect_right(cdf, rng.random()) for _ in range(20_000)]
    counts = np.bincount(draws, minlength=trials + 1)
    expected = scipy_stats.binom.pmf(np.arange(trials + 1), trials, p) * len(draws)
    # Pool the sparse tails so every chi-square cell expects at least 5 draws.
    keep = expected >= 5
    observed = np.append(counts[keep], counts[~keep].sum())
    expected_pooled = np.append(expected[keep], expected[~keep].sum())
    assert scipy_stats.chisquare(observed, expected_pooled).pvalue > 0.001


# --- paired bootstrap --------------------------------------------------------------------------


def numpy_index_bootstrap(
    a: list[bool], b: list[bool], confidence: float, n_resamples: int, seed: int
) -> tuple[float, float]:
    """The textbook paired bootstrap: resample pair indices, take percentiles of the differences."""
    rng = np.random.default_rng(seed)
    diff_per_pair = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(a)
    means = np.concatenate(
        [
            diff_per_pair[rng.integers(0, n, size=(2_000, n))].mean(axis=1)
            for _ in range(n_resamples // 2_000)
        ]
    )
    tail = (1 - confidence) / 2
    low, high = np.percentile(means, [100 * tail, 100 * (1 - tail)])
    return float(low), float(high)


@pytest.mark.parametrize(
    ("counts", "confidence"),
    [
        ((120, 60, 20, 100), 0.95),
        ((120, 60, 20, 100), 0.5),
        ((120, 60, 20, 100), 0.99),
        ((180, 6, 0, 14), 0.95),  # few discordant pairs, all one way: a skewed distribution
        ((40, 25, 30, 105), 0.8),
    ],
)
def test_bootstrap_matches_brute_force_index_resampling(
    counts: tuple[int, int, int, int], confidence: float
) -> None:
    a, b = make_pairs(*counts)
    ours = paired_bootstrap_ci(a, b, confidence=confidence, n_resamples=20_000, seed=1)
    brute = numpy_index_bootstrap(a, b, confidence, n_resamples=20_000, seed=2)
    assert ours == pytest.approx(brute, abs=0.01)


def test_bootstrap_agrees_with_wald_interval_for_large_n() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    a = rng.random(n) < 0.62
    # b is correlated with a, as two models on the same instances are.
    b = np.where(rng.random(n) < 0.7, a, rng.random(n) < 0.55)
    p10 = float(np.mean(a & ~b))
    p01 = float(np.mean(~a & b))
    diff = p10 - p01
    z = NormalDist().inv_cdf(0.975)
    half = z * np.sqrt((p10 + p01 - diff**2) / n)
    low, high = paired_bootstrap_ci(a.tolist(), b.tolist())
    assert low == pytest.approx(diff - half, abs=0.005)
    assert high == pytest.approx(diff + half, abs=0.005)


def test_percentile_matches_numpy_default() -> None:
    rng = random.Random(4)
    for size in (1, 2, 7, 100, 1001):
        values = sorted(rng.randint(-50, 50) for _ in range(size))
        for q in (0.0, 0.005, 0.025, 0.3, 0.5, 0.975, 1.0):
            expected = float(np.percentile(values, 100 * q))
            assert percentile(values, q) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_bootstrap_interval_contains_observed_difference() -> None:
    for counts in [(10, 5, 3, 12), (0, 1, 0, 0), (50, 0, 9, 1), (3, 20, 20, 3)]:
        a, b = make_pairs(*counts)
        observed = (counts[1] - counts[2]) / sum(counts)
        low, high = paired_bootstrap_ci(a, b)
        assert low <= observed <= high


def test_bootstrap_of_identical_results_is_a_point() -> None:
    a, _ = make_pairs(30, 10, 0, 20)
    assert paired_bootstrap_ci(a, list(a)) == (0.0, 0.0)


def test_bootstrap_is_deterministic_by_seed() -> None:
    a, b = make_pairs(40, 12, 7, 41)
    assert paired_bootstrap_ci(a, b, seed=5) == paired_bootstrap_ci(a, b, seed=5)
    assert paired_bootstrap_ci(a, b, seed=5) != paired_bootstrap_ci(a, b, seed=6)


def test_bootstrap_mirrors_exactly_when_models_swap() -> None:
    a, b = make_pairs(40, 12, 7, 41)
    low, high = paired_bootstrap_ci(a, b, seed=3)
    assert paired_bootstrap_ci(b, a, seed=3) == (-high, -low)


@pytest.mark.parametrize(
    ("a", "b", "kwargs"),
    [
        ([True], [True, False], {}),
        ([], [], {}),
        ([True], [False], {"confidence": 95}),
        ([True], [False], {"n_resamples": 0}),
    ],
)
def test_bootstrap_rejects_bad_arguments(
    a: list[bool], b: list[bool], kwargs: dict[str, float]
) -> None:
    with pytest.raises(ValueError):
        paired_bootstrap_ci(a, b, **kwargs)  # type: ignore[arg-type]


# --- Holm --------------------------------------------------------------------------------------


def holm_rejects(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure as published: reject in order while p_(i) <= alpha / (m - i)."""
    m = len(pvalues)
    rejected = [False] * m
    for rank, index in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        if pvalues[index] > alpha / (m - rank):
            break
        rejected[index] = True
    return rejected


def test_holm_hand_worked_example() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04) = 0.06.
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_agrees_with_the_step_down_procedure() -> None:
    rng = random.Random(11)
    for _ in range(300):
        pvalues = [rng.random() ** 3 for _ in range(rng.randint(1, 10))]
        adjusted = holm_adjust(pvalues)
        for alpha in (0.001, 0.01, 0.05, 0.1, 0.3):
            assert [p <= alpha for p in adjusted] == holm_rejects(pvalues, alpha)
        assert all(raw <= adj <= 1.0 for raw, adj in zip(pvalues, adjusted, strict=True))


def test_holm_edge_cases() -> None:
    assert holm_adjust([]) == []
    assert holm_adjust([0.2]) == [0.2]
    assert holm_adjust([0.6, 0.9]) == [1.0, 1.0]
    with pytest.raises(ValueError):
        holm_adjust([0.1, 1.5])
    with pytest.raises(ValueError):
        holm_adjust([float("nan")])


# --- formatting and verdicts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0, "p<0.001"),
        (0.000999, "p<0.001"),
        (0.001, "p=0.0010"),
        (0.0123, "p=0.012"),
        (0.049, "p=0.049"),
        (0.05, "p=0.050"),
        (0.6875, "p=0.69"),
        (0.5, "p=0.50"),
        (1.0, "p=1.0"),
    ],
)
def test_format_p(p: float, text: str) -> None:
    assert format_p(p) == text


def test_format_p_keeps_two_significant_digits() -> None:
    rng = random.Random(2)
    for _ in range(500):
        p = rng.uniform(0.001, 1.0)
        shown = float(format_p(p).removeprefix("p="))
        assert shown == float(f"{p:.1e}")  # scientific notation with one decimal = 2 sig. digits


def test_format_p_rejects_non_probabilities() -> None:
    for p in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError):
            format_p(p)


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(19 / 60, "+31.7"), (-0.05, "-5.0"), (0.0, "+0.0"), (-0.0001, "+0.0"), (1.0, "+100.0")],
)
def test_format_pts(fraction: float, text: str) -> None:
    assert format_pts(fraction) == text


def test_significant_verdict_names_the_leader() -> None:
    a, b = make_pairs(30, 20, 1, 9)  # a: 50/60, b: 31/60, diff = 19/60 = 31.67 pts
    result = compare_paired("qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct", a, b)
    low, high = paired_bootstrap_ci(a, b)
    assert result.significant
    assert result.p_value == pytest.approx(scipy_mcnemar(20, 1), rel=1e-12)
    assert result.accuracy_a == pytest.approx(np.mean(a))
    assert result.accuracy_b == pytest.approx(np.mean(b))
    assert result.diff == pytest.approx(19 / 60)
    assert (result.ci_low, result.ci_high) == (low, high)
    assert result.verdict == (
        "qwen2.5-coder-0.5b-instruct leads smollm2-135m-instruct by +31.7 pts "
        f"(95% CI +{100 * low:.1f}..+{100 * high:.1f}, p<0.001, n=60)"
    )


def test_verdict_speaks_from_the_leaders_side_when_b_is_ahead() -> None:
    a, b = make_pairs(30, 20, 1, 9)
    forward = compare_paired("A", "B", a, b)
    swapped = compare_paired("B", "A", b, a)
    assert swapped.diff == pytest.approx(-19 / 60)
    assert swapped.ci_high < 0
    assert swapped.verdict == forward.verdict  # same sentence: A leads B, with positive numbers
    assert re.fullmatch(
        r"A leads B by \+31\.7 pts \(95% CI \+\d+\.\d\.\.\+\d+\.\d, p<0\.001, n=60\)",
        swapped.verdict,
    )


def test_non_significant_verdict_is_inconclusive_with_instances_to_go() -> None:
    a, b = make_pairs(30, 4, 2, 24)  # diff = 2/60 = 3.3 pts, p = 2 * 22/64 = 0.6875
    result = compare_paired("A", "B", a, b)
    assert not result.significant
    assert result.kind == "inconclusive"
    assert result.more_instances is not None and result.more_instances > 0
    assert result.verdict == (
        "cannot yet tell whether the gap between A and B is under 5.0 pts: A - B = +3.3 pts "
        f"(90% CI {format_pts(result.eq_low)}..{format_pts(result.eq_high)}, p=0.69, n=60); "
        f"about {result.more_instances:,} more paired instances would settle it"
    )
    assert result.ci_low < 0 < result.ci_high
    assert result.eq_high > 0.05  # not inside the margin either


def test_both_tests_must_agree_before_naming_a_leader() -> None:
    a, b = make_pairs(30, 20, 1, 9)
    strict = compare_paired("A", "B", a, b, alpha=1e-9)
    assert strict.ci_low > 0  # the interval excludes 0 but p does not clear alpha
    assert not strict.significant
    assert strict.kind == "inconclusive"
    a, b = make_pairs(30, 12, 2, 16)  # p = 2 * (1 + 14 + 91) / 2**14 = 0.0129 < 0.05
    wide = compare_paired("A", "B", a, b, confidence=0.999)
    assert wide.p_value == pytest.approx(2 * 106 / 2**14)
    assert wide.ci_low < 0  # ... but a 99.9% interval still reaches below 0
    assert not wide.significant
    assert wide.kind == "inconclusive"
    assert wide.verdict.startswith(
        "cannot yet tell whether the gap between A and B is under 5.0 pts: A - B = +16.7 pts"
    )
    settled = compare_paired("A", "B", a, b)  # at 95% both agree: a lead
    assert settled.kind == "ahead" and settled.significant
    assert settled.verdict.startswith("A leads B by +16.7 pts (95% CI")


def test_no_pairs_verdict() -> None:
    result = compare_paired("A", "B", [], [])
    assert result.n_paired == 0
    assert not result.significant
    assert result.p_value == 1.0
    assert (
        result.verdict == "no paired instances between A and B: run both on the same tasks and seed"
    )


def test_as_dict_is_json_ready_with_the_documented_keys() -> None:
    a, b = make_pairs(5, 3, 1, 1)
    record = compare_paired("A", "B", a, b, confidence=0.9).as_dict()
    assert set(record) == {
        "model_a",
        "model_b",
        "n_paired",
        "diff",
        "ci_low",
        "ci_high",
        "p_value",
        "verdict",
        "accuracy_a",
        "accuracy_b",
        "significant",
        "phrasing_gaps",
        "kind",
        "confidence",
        "margin",
        "ci90_low",
        "ci90_high",
        "equivalence_p",
        "holm_pairs",
        "p_value_holm",
        "equivalence_p_holm",
        "more_instances",
        "only_a",
        "only_b",
    }
    assert record["kind"] in ("ahead", "behind", "equivalent", "inconclusive")
    assert json.loads(json.dumps(record)) == record
    assert "90% CI" in str(record["verdict"])


def test_compare_rejects_bad_alpha_and_unequal_lengths() -> None:
    with pytest.raises(ValueError):
        compare_paired("A", "B", [True], [False], alpha=5)
    with pytest.raises(ValueError):
        compare_paired("A", "B", [True, True], [False])
