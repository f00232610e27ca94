"""The anytime-valid sequential verdicts (stats/sequential.py): the four mixture e-processes that
decide and the confidence sequence that is reported, checked against confseq (Howard's and
Waudby-Smith's library) and against numpy re-implementations, and by simulation: with 10,000
simulated sequences looked at after every instance, every wrong claim (a false lead at a true gap
of 0, a false "caught up" at a true gap of exactly the margin, a lead of the wrong model at a
real gap) stays at or below alpha, while the fixed-n tests repeated after every ten instances
(peeking) do not.

The simulations use vectorised numpy copies, themselves checked against the module, so that
10,000 sequences of 500-1,000 instances take a few seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from gapbench.stats.sequential import (
    ALPHA,
    BET_FRACTIONS,
    Side,
    interval,
    log_capitals,
    log_evalue,
    look,
    plugin_bets,
    start,
)

SIMULATIONS = 10_000
HORIZON = 500
DISCORDANT = 0.35
"""Share of instances only one of the two models gets right: what two models of 50-80% accuracy
that err independently of each other give."""


def _confseq() -> object:
    """confseq.betting, importable under NumPy 2 (its misc module still names np.float_)."""
    if not hasattr(np, "float_"):
        np.float_ = np.float64  # type: ignore[attr-defined]
    from confseq import betting  # type: ignore[import-untyped]

    return betting


def _diffs(rng: np.random.Generator, gap: float, size: tuple[int, ...] | int) -> np.ndarray:
    """Paired differences with P(+1) - P(-1) = gap and P(+1) + P(-1) = DISCORDANT."""
    up, down = (DISCORDANT + gap) / 2, (DISCORDANT - gap) / 2
    return rng.choice(np.array([1, -1, 0]), p=[up, down, 1 - up - down], size=size)


# --- an independent, vectorised implementation -------------------------------------------------


def _np_bets(x: np.ndarray, alpha: float) -> np.ndarray:
    """WSR's predictable plug-in bets, row by row, written as confseq writes them."""
    t = np.arange(1, x.shape[-1] + 1)
    mean = np.minimum((0.5 + np.cumsum(x, axis=-1)) / (t + 1), 1)
    variance = (0.25 + np.cumsum((x - mean) ** 2, axis=-1)) / (t + 1)
    lagged = np.concatenate([np.full((*x.shape[:-1], 1), 0.25), variance[..., :-1]], axis=-1)
    return np.asarray(np.sqrt(2 * np.log(2 / alpha) / (t * np.log1p(t) * lagged)))


def _np_log_capital_paths(
    x: np.ndarray, m: float, alpha: float, bets: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """log K+ and log K- after every instance, for each row of x in [0, 1]."""
    bets = _np_bets(x, alpha) if bets is None else bets
    up = np.cumsum(np.log1p(np.minimum(bets, 0.5 / m) * (x - m)), axis=-1)
    down = np.cumsum(np.log1p(-np.minimum(bets, 0.5 / (1 - m)) * (x - m)), axis=-1)
    return up, down


def _threshold(alpha: float) -> float:
    return math.log(2 / alpha)


def _np_log_evalue_paths(d: np.ndarray, g0: float, side: Side) -> np.ndarray:
    """log of the mixture e-process against gap <= g0 ('up') or gap >= g0 ('down') after every
    instance, per row of d in {-1, 0, 1}, from the running counts of each value; clipped at 700
    (far past any threshold) so that it never overflows."""
    counts = [np.cumsum(d == v, axis=-1) for v in (1, -1, 0)]
    sign = 1.0 if side == "up" else -1.0
    scale = 1 + g0 if side == "up" else 1 - g0
    total = np.zeros(d.shape)
    for f in BET_FRACTIONS:
        lam = sign * f / scale
        logs = sum(c * math.log1p(lam * (v - g0)) for c, v in zip(counts, (1, -1, 0), strict=True))
        total += np.exp(np.minimum(logs, 700.0) - 700.0)
    return np.log(total / len(BET_FRACTIONS)) + 700.0


# --- against confseq ---------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [0.0, 0.1, -0.25])
@pytest.mark.parametrize("m", [0.2, 0.45, 0.5, 0.55, 0.8])
def test_capital_matches_confseq(gap: float, m: float) -> None:
    betting = _confseq()
    rng = np.random.default_rng(7)
    d = _diffs(rng, gap, 400)
    x = (d + 1) / 2
    hedged = betting.betting_mart(x, m, alpha=ALPHA, theta=0.5, trunc_scale=0.5)  # type: ignore[attr-defined]
    bets = plugin_bets(list(x), ALPHA)
    for n in (1, 10, 137, 400):
        up, down = log_capitals(list(x[:n]), bets[:n], m)
        mine = max(up, down) + math.log(0.5)
        assert mine == pytest.approx(math.log(hedged[n - 1]), rel=1e-9, abs=1e-9)


def test_interval_matches_confseq_hedged_cs() -> None:
    """confseq finds the CS on a grid of 1,000 points and widens it by one step on each side;
    the exact edges found by bisection lie within that step of the grid's (0.002 in gap units)."""
    betting = _confseq()
    rng = np.random.default_rng(11)
    d = _diffs(rng, 0.15, 300)
    x = (d + 1) / 2
    low, high = betting.hedged_cs(x, alpha=ALPHA, breaks=1000, running_intersection=False)  # type: ignore[attr-defined]
    step = 2 / 1000
    for n in (1, 5, 20, 60, 150, 300):
        mine = interval(list(d[:n]))
        theirs = (2 * low[n - 1] - 1, 2 * high[n - 1] - 1)
        assert theirs[0] - 1e-9 <= mine[0] <= theirs[0] + 2 * step, (n, mine, theirs)
        assert theirs[1] - 2 * step <= mine[1] <= theirs[1] + 1e-9, (n, mine, theirs)


@pytest.mark.parametrize(
    ("g0", "side"), [(0.0, "up"), (0.0, "down"), (-0.05, "up"), (0.05, "down"), (0.2, "down")]
)
@pytest.mark.parametrize("gap", [0.0, 0.1, -0.25])
def test_evalue_matches_confseq_diversified_capital(g0: float, side: Side, gap: float) -> None:
    """confseq's mixture of betting capitals (`diversified_betting_mart`, one constant bet per
    strategy, equal weights, one side) on x = (d + 1) / 2 is the module's e-process: a bet lam
    on d - g0 is a bet 2 lam on x - m."""
    betting = _confseq()
    rng = np.random.default_rng(13)
    d = _diffs(rng, gap, 300)
    x = (d + 1) / 2
    m = (g0 + 1) / 2
    scale = 1 + g0 if side == "up" else 1 - g0

    def constant(lam: float) -> object:
        return lambda data, _m: np.full(len(data), lam)

    fns = [constant(2 * f / scale) for f in BET_FRACTIONS]
    theirs = betting.diversified_betting_mart(  # type: ignore[attr-defined]
        x, m, lambdas_fns_positive=fns, theta=1.0 if side == "up" else 0.0, trunc_scale=1.0
    )
    for n in (1, 9, 40, 151, 300):
        assert log_evalue(list(d[:n]), g0, side) == pytest.approx(
            math.log(theirs[n - 1]), rel=1e-9, abs=1e-9
        )


def test_numpy_evalue_copy_matches_the_module() -> None:
    rng = np.random.default_rng(4)
    d = _diffs(rng, 0.1, (3, 200))
    for g0, side in [(0.0, "up"), (0.0, "down"), (-0.05, "up"), (0.05, "down")]:
        paths = _np_log_evalue_paths(d, g0, side)  # type: ignore[arg-type]
        for row in range(3):
            for n in (1, 17, 200):
                assert paths[row, n - 1] == pytest.approx(
                    log_evalue(list(d[row, :n]), g0, side),  # type: ignore[arg-type]
                    rel=1e-9,
                    abs=1e-12,
                )


def test_the_filtered_crossing_finds_the_same_rows() -> None:
    rng = np.random.default_rng(8)
    d = _diffs(rng, 0.05, (400, 300))
    for g0, side in [(0.0, "up"), (0.0, "down"), (-0.05, "up"), (0.05, "down")]:
        full = _ever(_np_log_evalue_paths(d, g0, side), ALPHA)  # type: ignore[arg-type]
        assert full.any()
        np.testing.assert_array_equal(_ever_crossed(d, g0, side, ALPHA), full)  # type: ignore[arg-type]


def test_evalue_ignores_the_order_and_starts_at_one() -> None:
    assert log_evalue([], 0.0, "up") == 0.0
    d = [1, 0, -1, 1, 1, 0]
    assert log_evalue(d, 0.0, "up") == pytest.approx(log_evalue(d[::-1], 0.0, "up"))
    # Mirrored data, mirrored null, other side: the same e-value.
    assert log_evalue(d, 0.05, "down") == pytest.approx(log_evalue([-v for v in d], -0.05, "up"))
    with pytest.raises(ValueError, match="in \\[-1, 1\\]"):
        log_evalue([2], 0.0, "up")


def test_numpy_copy_matches_the_module_on_whole_paths() -> None:
    rng = np.random.default_rng(3)
    d = _diffs(rng, 0.05, (4, 120))
    x = (d + 1) / 2
    for m in (0.5, 0.475, 0.525):
        up, down = _np_log_capital_paths(x, m, ALPHA)
        for row in range(4):
            xs = list(x[row])
            bets = plugin_bets(xs, ALPHA)
            for n in (1, 30, 120):
                assert (up[row, n - 1], down[row, n - 1]) == pytest.approx(
                    log_capitals(xs[:n], bets[:n], m), rel=1e-9, abs=1e-12
                )


# --- properties of the interval and the verdict ------------------------------------------------


def test_interval_is_the_set_the_capital_does_not_reject() -> None:
    rng = np.random.default_rng(5)
    d = list(_diffs(rng, 0.1, 200))
    x = [(v + 1) / 2 for v in d]
    bets = plugin_bets(x, ALPHA)
    low, high = interval(d)
    for gap in np.linspace(-1, 1, 401):
        m = (gap + 1) / 2
        up, down = log_capitals(x, bets, m)
        rejected = max(up, down) >= _threshold(ALPHA)
        if low + 1e-9 < gap < high - 1e-9:
            assert not rejected, gap
        elif gap < low - 1e-9 or gap > high + 1e-9:
            assert rejected, gap


def test_mirrored_data_give_a_mirrored_interval() -> None:
    rng = np.random.default_rng(9)
    d = list(_diffs(rng, 0.2, 150))
    low, high = interval(d)
    flipped = interval([-v for v in d])
    assert flipped == pytest.approx((-high, -low), abs=1e-9)


def test_empty_and_invalid_input() -> None:
    assert interval([]) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="in \\[-1, 1\\]"):
        interval([2])
    with pytest.raises(ValueError, match="alpha"):
        interval([1], alpha=0)
    with pytest.raises(ValueError, match="margin"):
        start(margin=0)
    state = look(start(), [1, 0, 1])
    with pytest.raises(ValueError, match="every difference so far"):
        look(state, [1])


def test_a_clear_lead_settles_and_the_verdict_sticks() -> None:
    state = start()
    assert state.kind == "inconclusive" and not state.settled
    # Eight straight wins are not enough at alpha 0.05 (the mixture's largest bet stakes 90% of
    # the capital, and the mean over the 30 bets must reach 2 / alpha = 40); nine are, though
    # the confidence sequence does not exclude 0 yet.
    state = look(state, [1] * 8)
    assert state.kind == "inconclusive"
    state = look(state, [1] * 9)
    assert state.kind == "ahead" and not state.cs_agrees
    state = look(state, [1] * 10)
    assert state.kind == "ahead" and state.low > 0 and state.cs_agrees
    # A later look whose e-value has fallen back keeps the claim (the running maximum).
    state = look(state, [1] * 10 + [-1] * 6)
    assert log_evalue([1] * 10 + [-1] * 6, 0.0, "up") < state.threshold
    assert state.kind == "ahead"
    assert look(start(), [-1] * 9).kind == "behind"


def test_identical_models_settle_as_equivalent() -> None:
    state = look(start(margin=0.1), [0] * 80)
    assert state.kind == "equivalent"
    assert -0.1 < state.low <= state.high < 0.1
    assert look(start(margin=0.1), [0] * 20).kind == "inconclusive"


def test_a_small_real_lead_inside_the_margin_is_equivalent() -> None:
    rng = np.random.default_rng(1)
    d = list(_diffs(rng, 0.04, 20_000))
    state = look(start(margin=0.1), d)
    assert state.low > 0 and state.high < 0.1
    assert state.kind == "equivalent"


# --- simulation: continuous monitoring ---------------------------------------------------------


def _ever(log_e: np.ndarray, alpha: float) -> np.ndarray:
    """Rows where the capital reached 2 / alpha at some instance."""
    return np.asarray((log_e >= _threshold(alpha)).any(axis=-1))


def _ever_crossed(
    d: np.ndarray, g0: float, side: Side, alpha: float, rows: np.ndarray | None = None
) -> np.ndarray:
    """Rows of d (of `rows` only, when given; the others are False) where the mixture e-process
    reached 2 / alpha at some instance. The mixture is at most its largest bet's capital, so a
    cheap pass over the bets one by one first finds the rows that can have crossed; the exact
    mixture is computed on those alone."""
    result = np.zeros(d.shape[0], dtype=bool)
    candidates = np.arange(d.shape[0]) if rows is None else np.flatnonzero(rows)
    if candidates.size == 0:
        return result
    sub = d[candidates]
    counts = [np.cumsum(sub == v, axis=-1, dtype=np.float32) for v in (1, -1, 0)]
    sign = 1.0 if side == "up" else -1.0
    scale = 1 + g0 if side == "up" else 1 - g0
    threshold = _threshold(alpha)
    bound = np.zeros(sub.shape[0], dtype=bool)
    for f in BET_FRACTIONS:
        steps = [np.float32(math.log1p(sign * f / scale * (v - g0))) for v in (1, -1, 0)]
        logs = counts[0] * steps[0] + counts[1] * steps[1] + counts[2] * steps[2]
        bound |= (logs >= threshold - 1e-3).any(axis=-1)
    if bound.any():
        exact = _np_log_evalue_paths(sub[bound], g0, side)
        result[candidates[np.flatnonzero(bound)]] = _ever(exact, alpha)
    return result


def _mcnemar_p(d: np.ndarray, every: int) -> tuple[np.ndarray, np.ndarray]:
    """McNemar's exact two-sided p-value after every `every` instances, and the sign of the
    observed lead there."""
    wins = np.cumsum(d == 1, axis=1)[:, every - 1 :: every]
    losses = np.cumsum(d == -1, axis=1)[:, every - 1 :: every]
    total = wins + losses
    p = np.minimum(1.0, 2 * scipy_stats.binom.cdf(np.minimum(wins, losses), total, 0.5))
    p[total == 0] = 1.0
    return p, np.sign(wins - losses)


def _naive_tost(d: np.ndarray, every: int, margin: float, alpha: float) -> np.ndarray:
    """Rows where the fixed-n paired TOST at `alpha` (the 1 - 2 alpha normal interval of the mean
    difference inside ±margin), run after every `every` instances, ever called 'caught up'."""
    t = np.arange(1, d.shape[1] + 1)[every - 1 :: every]
    mean = np.cumsum(d, axis=1)[:, every - 1 :: every] / t
    second = np.cumsum(d * d, axis=1)[:, every - 1 :: every] / t
    se = np.sqrt(np.maximum(second - mean**2, 0.0) / np.maximum(t - 1, 1))
    z = scipy_stats.norm.ppf(1 - alpha)
    return np.asarray(((mean - z * se > -margin) & (mean + z * se < margin)).any(axis=1))


def _chunks(gap: float, horizon: int, seed: int, rows: int = 1000) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [_diffs(rng, gap, (rows, horizon)) for _ in range(SIMULATIONS // rows)]


def test_false_leads_stay_below_alpha_under_continuous_monitoring() -> None:
    """Two equally good models: the tests against 'no lead', looked at after every one of 500
    instances, ever call a lead either way in at most 5% of 10,000 runs (each side at most
    2.5%); McNemar's test rerun every 10 instances (50 looks) does in far more. The confidence
    sequence, reported beside, ever excludes 0 in at most 5% too."""
    ahead = behind = either = naive = cs = 0
    for d in _chunks(0.0, HORIZON, seed=2024):
        up = _ever_crossed(d, 0.0, "up", ALPHA)
        down = _ever_crossed(d, 0.0, "down", ALPHA)
        ahead, behind, either = (
            ahead + int(up.sum()),
            behind + int(down.sum()),
            either + int((up | down).sum()),
        )
        p, _ = _mcnemar_p(d, 10)
        naive += int((p < ALPHA).any(axis=1).sum())
        cs_up, cs_down = _np_log_capital_paths((d + 1) / 2, 0.5, ALPHA)
        cs += int((_ever(cs_up, ALPHA) | _ever(cs_down, ALPHA)).sum())
    rate, naive_rate = either / SIMULATIONS, naive / SIMULATIONS
    print(
        f"\nfalse lead, true gap 0, {HORIZON} instances, {DISCORDANT:.0%} discordant, "
        f"{SIMULATIONS:,} runs, looked at every instance: e-processes {rate:.2%} (A "
        f"{ahead / SIMULATIONS:.2%}, B {behind / SIMULATIONS:.2%}); confidence sequence "
        f"{cs / SIMULATIONS:.2%}; McNemar rerun every 10 instances {naive_rate:.2%} "
        f"(alpha {ALPHA:.0%})"
    )
    assert rate <= ALPHA and ahead / SIMULATIONS <= ALPHA / 2 + 0.005
    assert cs / SIMULATIONS <= ALPHA
    assert naive_rate > 2 * ALPHA, "peeking should inflate the fixed-n test's error"


def test_false_caught_up_at_the_margin_stays_below_alpha() -> None:
    """A true gap of exactly the margin is not 'caught up', and B does not lead: over 10,000
    runs of 1,000 instances looked at after every one, the two tests against ±margin both
    rejecting, or the test against 'B does not lead' rejecting, happens in at most alpha of
    them; a fixed-n TOST rerun every 10 instances calls 'caught up' far more often."""
    margin = 0.05
    caught = behind = wrong = naive = 0
    for d in _chunks(margin, 1000, seed=17):
        high = _ever_crossed(d, margin, "down", ALPHA)
        low = _ever_crossed(d, -margin, "up", ALPHA, rows=high)  # only needed where high
        lead_b = _ever_crossed(d, 0.0, "down", ALPHA)
        caught += int((low & high).sum())
        behind += int(lead_b.sum())
        wrong += int(((low & high) | lead_b).sum())
        naive += int(_naive_tost(d, 10, margin, ALPHA).sum())
    rate = wrong / SIMULATIONS
    print(
        f"\ntrue gap = the ±5 pt margin, 1,000 instances, {SIMULATIONS:,} runs: false 'caught "
        f"up' {caught / SIMULATIONS:.2%}, false 'B leads' {behind / SIMULATIONS:.2%}, either "
        f"{rate:.2%}; fixed-n TOST rerun every 10 instances: false 'caught up' "
        f"{naive / SIMULATIONS:.2%}"
    )
    assert rate <= ALPHA
    assert naive / SIMULATIONS > rate


def test_a_real_gap_is_not_called_for_the_wrong_model() -> None:
    """A true 10-point lead of A: the test for a lead of B ever rejects in at most alpha / 2 of
    10,000 runs; the CS ever excluding the true gap (either side), in at most alpha."""
    gap = 0.10
    wrong = missed = naive = 0
    for d in _chunks(gap, HORIZON, seed=99):
        wrong += int(_ever_crossed(d, 0.0, "down", ALPHA).sum())
        p, sign = _mcnemar_p(d, 10)
        naive += int(((p < ALPHA) & (sign < 0)).any(axis=1).sum())
        up, down = _np_log_capital_paths((d + 1) / 2, (gap + 1) / 2, ALPHA)
        missed += int((_ever(up, ALPHA) | _ever(down, ALPHA)).sum())
    print(
        f"\ntrue gap +10 pts, {HORIZON} instances, {SIMULATIONS:,} runs: lead called for B "
        f"{wrong / SIMULATIONS:.2%} (McNemar rerun every 10 instances {naive / SIMULATIONS:.2%});"
        f" CS ever excluding the true gap {missed / SIMULATIONS:.2%}"
    )
    assert wrong / SIMULATIONS <= ALPHA / 2
    assert missed / SIMULATIONS <= ALPHA


def test_the_module_agrees_with_the_simulation_on_sample_runs() -> None:
    """Looking every 10 (or 50) instances, the module calls each claim exactly when the numpy
    copy's e-processes had crossed at one of those looks."""
    rng = np.random.default_rng(21)
    d = _diffs(rng, 0.3, (20, 80))
    level = _diffs(rng, 0.0, (6, 400))
    threshold = _threshold(ALPHA)
    up = _np_log_evalue_paths(d, 0.0, "up")
    down = _np_log_evalue_paths(d, 0.0, "down")
    for row in range(20):
        state = start()
        for n in range(10, 81, 10):
            state = look(state, list(d[row, :n]))
        assert state.above_zero == bool((up[row, 9::10] >= threshold).any())
        assert state.below_zero == bool((down[row, 9::10] >= threshold).any())
    margin = 0.2
    low = _np_log_evalue_paths(level, -margin, "up")
    high = _np_log_evalue_paths(level, margin, "down")
    for row in range(6):
        state = start(margin=margin)
        for n in range(50, 401, 50):
            state = look(state, list(level[row, :n]))
        assert state.above_minus_margin == bool((low[row, 49::50] >= threshold).any())
        assert state.below_plus_margin == bool((high[row, 49::50] >= threshold).any())
