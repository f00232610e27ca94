"""Anytime-valid sequential verdicts for the paired difference between two models
(`gapbench run --until-verdict`): one-sided tests by betting decide, a confidence sequence
reports the interval.

Each paired instance gives d = (A right) - (B right), in {-1, 0, 1}; the verdict is about their
mean, the true accuracy gap A - B. Both the tests and the sequence below stay valid at *every*
sample size at once, so a run may look after every instance, or every round, and stop whenever it
likes without inflating its error: a fixed-n test checked again and again after each batch does
not have that property (McNemar's test at 5% rerun every 10 of 500 instances calls a false lead
in about 22% of runs; tests/stats/test_sequential.py measures both).

The decisions: four e-processes, testing by betting
---------------------------------------------------

For a null "gap <= g0" a gambler starts with capital 1 and, before each instance, stakes a
fraction of it on the gap being larger; for "gap >= g0", on it being smaller:

    up:   E_t = prod_i (1 + lam (d_i - g0)),   lam = f / (1 + g0),
    down: E_t = prod_i (1 - lam (d_i - g0)),   lam = f / (1 - g0),

with f in [0, 1) the share of the capital that a worst-case instance can take (d = -1 for up, +1
for down; so every factor is at least 1 - f > 0). Under any gap on the null side each factor has
expectation 1 + lam (gap - g0) <= 1 (up) or 1 - lam (gap - g0) <= 1 (down), whatever the
distribution of d and whatever came before, so E_t is a nonnegative supermartingale for the
whole composite null, and so is any fixed mixture of such processes over f. By Ville's
inequality P(E_t ever reaches 1 / a) <= a under the null: the test may be read after every
instance, forever. The e-processes used are mixtures with equal weights over BET_FRACTIONS,
30 values of f spaced geometrically from 0.1 to 0.9 (testing by betting with a mixture of
constant bets: Waudby-Smith and Ramdas 2024, "Estimating means of bounded random variables by
betting", JRSS-B 86(1), their mixture/"diversified" capital; the discrete form of Cover's
universal portfolio). A mixture is what the data call for here: for d in {-1, 0, 1} and g0 = 0 the
growth-optimal (Kelly) bet is lam* = (p+ - p-) / (p+ + p-), the gap over the discordance rate, so
the bet that a 10-point gap needs is 0.2 at 50% discordance and 0.5 at 20%, and a 30-point gap
wants 0.86; the mixture's capital is within log 30 of the best fixed bet of the grid on every
path. Measured against the alternatives (benchmarks/bench_sequential.py and quick runs of the
same simulation, 35% discordance, design matching as in docs/benchmarks.md): at a 10-point gap
the mixture draws 342 paired instances on average; the predictable plug-in bets of the hedged CS
below 415 (they shrink like 1 / sqrt(t log t), tuned for the width of the interval, not for
power against a gap), and WSR's aGRAPA plug-in bets lam_t = mu_hat / (sigma2_hat + mu_hat^2)
(which for three-valued d at g0 = 0 is exactly the plug-in Kelly bet) 400-450 with truncation c
from 1/2 to 0.9 (they overbet on the first few dozen instances); Wald's SPRT with its one bet
tuned to the true 10-point alternative (0.29), which needs the gap and the discordance rate in
advance, draws 291 there but 112 and 65 at 20 and 30 points, against the mixture's 100 and 43.

Because a constant bet's capital depends only on how many instances gave -1, 0 and +1, each
e-value is computed exactly from three counts, whatever the order of the instances.

Four nulls, each tested at threshold 2 / alpha (level alpha / 2):

    lead of A:     H0 gap <= 0,        up at g0 = 0          -> `ahead` when E reaches 2 / alpha
    lead of B:     H0 gap >= 0,        down at g0 = 0        -> `behind`
    caught up:     H0 gap >= +margin,  down at g0 = +margin  -> `equivalent` when both of these
                   H0 gap <= -margin,  up at g0 = -margin       have reached 2 / alpha (an
                                                               intersection-union test, TOST)

The running maximum over the looks taken is kept: a claim, once made, stays made (the pair is
not looked at again by sequential_run.py).

Error per pair, across the three claims. A claim is wrong only if one of the e-processes whose
null holds reached its threshold at some look; each does so with probability at most alpha / 2
by Ville. By the true gap:

- gap = 0: `ahead` and `behind` are wrong ("caught up" is right): P <= alpha/2 + alpha/2 = alpha;
- 0 < gap < margin: only `behind` is wrong: P <= alpha / 2 (symmetrically `ahead` for gap < 0);
- gap >= margin: `behind` and `equivalent` are wrong; `equivalent` needs the down process at
  +margin, whose null holds, to reach 2 / alpha: P <= alpha/2 + alpha/2 = alpha (symmetrically
  for gap <= -margin).

So for one pair, P(any wrong verdict, however often one looks and whenever one stops) <= alpha,
the same guarantee as reading all three claims off one (1 - alpha) confidence sequence, which is
what this module did before (the e-processes reject sooner). A run over k models judges k(k-1)/2
pairs; sequential_run.py gives each alpha / pairs (Bonferroni), so the chance of any wrong
verdict among them stays at most alpha = 0.05.

The reported interval: a confidence sequence
---------------------------------------------

The interval printed beside the verdict is the hedged-capital betting CS of WSR (2024, the hedged
capital process with predictable plug-in bets), on x = (d + 1) / 2 in [0, 1], whose mean is
m = (gap + 1) / 2. For a candidate mean m two gamblers bet that the mean is above m and below
it:

    K+_t(m) = prod_i (1 + min(lam_i, c / m) (x_i - m)),
    K-_t(m) = prod_i (1 - min(lam_i, c / (1 - m)) (x_i - m)),

with c = 1/2 and the predictable bets lam_i = sqrt(2 log(2 / alpha) / (s2_{i-1} i log(1 + i))),
where s2 is a running variance shrunk towards 1/4 by one pseudo-observation. Under mean m both
are nonnegative martingales, so by Ville's inequality the hedged capital max(K+/2, K-/2) ever
reaches 1 / alpha with probability at most alpha; the CS is every m where it has not. This is
the construction of the `confseq` package (Howard's and Waudby-Smith's library, `hedged_cs`),
which the tests check it against. Both capitals are monotone in m, so the CS is an interval whose
two edges are found by bisection; the running intersection over the looks is kept.

The CS and the tests are two views of the same data at the same level, but not the same
procedure: a lead can be called by its test while the CS (tuned for width, not for power against
a gap) still holds 0, and "caught up" while the CS still reaches past ±margin. The printed
verdict then says so and gives the e-value (report/sequential.py).

Standard library only: the default install has no numpy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from gapbench.stats.equivalence import DEFAULT_MARGIN, Kind, check_margin

ALPHA = 0.05
"""The error rate of the sequential verdicts: the chance of any wrong one, however often the run
looks (see the module docstring)."""

THETA = 0.5
"""The hedge: the share of the capital betting on a mean above m (WSR's theta)."""

TRUNCATION = 0.5
"""WSR's c: a bet is at most c / m (or c / (1 - m)), so no factor falls below 1 - c."""

PRIOR_MEAN = 0.5
PRIOR_VARIANCE = 0.25
"""The pseudo-observation the plug-in mean and variance start from (WSR, and confseq's
defaults): the variance of a fair coin, the largest a [0, 1] variable can have."""

_BISECTIONS = 60

BET_COUNT = 30
BET_FRACTIONS: tuple[float, ...] = tuple(
    0.1 * 9.0 ** (j / (BET_COUNT - 1)) for j in range(BET_COUNT)
)
"""The bets the e-processes mix, with equal weights: shares f of the capital a worst-case instance
can take, geometric from 0.1 to 0.9 (module docstring)."""

Side = Literal["up", "down"]
"""'up' tests the null gap <= g0 (evidence that the gap is larger); 'down' tests gap >= g0."""


def check_alpha(alpha: float) -> None:
    if not (math.isfinite(alpha) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")


def _unit(diffs: Sequence[float]) -> list[float]:
    """The paired differences mapped from [-1, 1] to [0, 1]."""
    unit = []
    for d in diffs:
        if not -1.0 <= d <= 1.0:
            raise ValueError(f"paired differences must lie in [-1, 1], got {d!r}")
        unit.append((d + 1.0) / 2.0)
    return unit


def plugin_bets(x: Sequence[float], alpha: float) -> list[float]:
    """WSR's predictable plug-in bets for x in [0, 1], before truncation: bet i uses only
    x_1..x_{i-1}, through the variance estimate s2_{i-1}."""
    check_alpha(alpha)
    log_term = 2.0 * math.log(1.0 / (alpha * THETA))  # each side at alpha / 2, as confseq
    bets = []
    total = 0.0
    squares = 0.0
    variance = PRIOR_VARIANCE
    for i, value in enumerate(x, start=1):
        bets.append(math.sqrt(log_term / (i * math.log1p(i) * variance)))
        total += value
        mean = min((PRIOR_MEAN + total) / (i + 1), 1.0)
        squares += (value - mean) ** 2
        variance = (PRIOR_VARIANCE + squares) / (i + 1)
    return bets


def log_capitals(x: Sequence[float], bets: Sequence[float], m: float) -> tuple[float, float]:
    """(log K+, log K-) after all of x, for the candidate mean m in [0, 1] (module docstring)."""
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"a candidate mean must lie in [0, 1], got {m!r}")
    cap_up = TRUNCATION / m if m > 0 else math.inf
    cap_down = TRUNCATION / (1.0 - m) if m < 1 else math.inf
    up = down = 0.0
    for value, bet in zip(x, bets, strict=True):
        step = value - m
        up += math.log1p(min(bet, cap_up) * step)
        down += math.log1p(-min(bet, cap_down) * step)
    return up, down


def _threshold(alpha: float) -> float:
    """log K must reach this for a side to reject: THETA * K >= 1 / alpha."""
    return math.log(1.0 / alpha) - math.log(THETA)


def rejects(x: Sequence[float], bets: Sequence[float], m: float, alpha: float) -> tuple[bool, bool]:
    """Whether the hedged capital rejects mean m on each side: (the mean is above m, below m)."""
    up, down = log_capitals(x, bets, m)
    threshold = _threshold(alpha)
    return up >= threshold, down >= threshold


def bets_for(null_gap: float, side: Side) -> tuple[float, ...]:
    """The bets lam (per unit of d - g0) of the mixture testing `null_gap` on `side`."""
    if not -1.0 < null_gap < 1.0:
        raise ValueError(f"a null gap must lie strictly between -1 and 1, got {null_gap!r}")
    scale = 1.0 + null_gap if side == "up" else 1.0 - null_gap
    return tuple(f / scale for f in BET_FRACTIONS)


def log_evalue(diffs: Sequence[float], null_gap: float, side: Side) -> float:
    """log of the mixture e-process after all of `diffs` against the null gap <= null_gap
    ('up') or gap >= null_gap ('down'): the log of the mean over BET_FRACTIONS of
    prod_i (1 +- lam (d_i - g0)) (module docstring). Exact from the counts of each value."""
    counts = Counter(diffs)
    for d in counts:
        if not -1.0 <= d <= 1.0:
            raise ValueError(f"paired differences must lie in [-1, 1], got {d!r}")
    sign = 1.0 if side == "up" else -1.0
    logs = [
        math.fsum(c * math.log1p(sign * lam * (d - null_gap)) for d, c in counts.items())
        for lam in bets_for(null_gap, side)
    ]
    top = max(logs)
    return top + math.log(math.fsum(math.exp(v - top) for v in logs) / len(logs))


def evalue_threshold(alpha: float) -> float:
    """log of what an e-process must reach for its claim: 2 / alpha, each of the four tests at
    level alpha / 2 (module docstring)."""
    check_alpha(alpha)
    return math.log(2.0 / alpha)


def interval(diffs: Sequence[float], alpha: float = ALPHA) -> tuple[float, float]:
    """The CS for the mean paired difference after `diffs` (not intersected with earlier
    looks), in [-1, 1]: every gap the hedged capital has not rejected, to about 1e-15."""
    check_alpha(alpha)
    x = _unit(diffs)
    if not x:
        return (-1.0, 1.0)
    bets = plugin_bets(x, alpha)
    threshold = _threshold(alpha)

    def up_rejects(m: float) -> bool:
        return log_capitals(x, bets, m)[0] >= threshold

    def down_rejects(m: float) -> bool:
        return log_capitals(x, bets, m)[1] >= threshold

    # K+ is nonincreasing in m, so it rejects exactly the m in [0, low]; K- exactly [high, 1].
    low = 0.0
    if up_rejects(0.0):
        inside, outside = 1.0, 0.0
        for _ in range(_BISECTIONS):
            middle = (inside + outside) / 2.0
            if up_rejects(middle):
                outside = middle
            else:
                inside = middle
        low = outside
    high = 1.0
    if down_rejects(1.0):
        inside, outside = 0.0, 1.0
        for _ in range(_BISECTIONS):
            middle = (inside + outside) / 2.0
            if down_rejects(middle):
                outside = middle
            else:
                inside = middle
        high = outside
    return (2.0 * low - 1.0, 2.0 * high - 1.0)


@dataclass(frozen=True)
class Look:
    """One pair after `n` paired instances: the four e-processes (their largest value over the
    looks taken so far, as logs), what they have settled, and the confidence sequence,
    intersected over every look taken. Gaps are fractions (0.05 is 5 points), A - B."""

    n: int = 0
    diff: float = 0.0
    """The observed mean paired difference."""
    low: float = -1.0
    high: float = 1.0
    """The running intersection of the CS."""
    log_e_ahead: float = 0.0
    log_e_behind: float = 0.0
    """Against 'gap <= 0' (evidence that A leads) and 'gap >= 0' (that B leads)."""
    log_e_above_minus_margin: float = 0.0
    log_e_below_plus_margin: float = 0.0
    """Against 'gap <= -margin' and 'gap >= +margin': together, evidence of 'caught up'."""
    margin: float = DEFAULT_MARGIN
    alpha: float = ALPHA

    @property
    def threshold(self) -> float:
        """The log e-value each claim needs: log(2 / alpha)."""
        return evalue_threshold(self.alpha)

    @property
    def above_zero(self) -> bool:
        """A lead of A has been shown (its test reached 2 / alpha at some look)."""
        return self.log_e_ahead >= self.threshold

    @property
    def below_zero(self) -> bool:
        return self.log_e_behind >= self.threshold

    @property
    def above_minus_margin(self) -> bool:
        return self.log_e_above_minus_margin >= self.threshold

    @property
    def below_plus_margin(self) -> bool:
        return self.log_e_below_plus_margin >= self.threshold

    @property
    def kind(self) -> Kind:
        """The verdict from A's side; 'equivalent' first, as in stats/equivalence.classify."""
        if self.above_minus_margin and self.below_plus_margin:
            return "equivalent"
        if self.above_zero:
            return "ahead"
        if self.below_zero:
            return "behind"
        return "inconclusive"

    @property
    def settled(self) -> bool:
        return self.kind != "inconclusive"

    @property
    def cs_agrees(self) -> bool:
        """The confidence sequence shows the verdict too: it excludes 0 on the leader's side, or
        lies inside ±margin. False when only the (more powerful) tests have settled it."""
        kind = self.kind
        if kind == "equivalent":
            return -self.margin < self.low and self.high < self.margin
        if kind == "ahead":
            return self.low > 0
        if kind == "behind":
            return self.high < 0
        return True

    def as_dict(self) -> dict[str, object]:
        def e(log_value: float) -> float:
            return math.exp(min(log_value, 700.0))

        return {
            "kind": self.kind,
            "n_paired": self.n,
            "diff": self.diff,
            "cs_low": self.low,
            "cs_high": self.high,
            "e_ahead": e(self.log_e_ahead),
            "e_behind": e(self.log_e_behind),
            "e_above_minus_margin": e(self.log_e_above_minus_margin),
            "e_below_plus_margin": e(self.log_e_below_plus_margin),
            "e_threshold": 2.0 / self.alpha,
            "margin": self.margin,
            "alpha": self.alpha,
        }


def start(margin: float = DEFAULT_MARGIN, alpha: float = ALPHA) -> Look:
    """The look before any instance: the CS is the whole of [-1, 1]."""
    check_margin(margin)
    check_alpha(alpha)
    return Look(margin=margin, alpha=alpha)


def look(previous: Look, diffs: Sequence[float]) -> Look:
    """The e-processes and the CS after `diffs`, every paired difference so far in the order they
    were drawn (the previous look's `n` of them first), each kept at its best over the looks."""
    if len(diffs) < previous.n:
        raise ValueError(
            f"a look needs every difference so far: got {len(diffs)}, the last look had "
            f"{previous.n}"
        )
    if not diffs:
        return previous
    margin = previous.margin
    low, high = interval(diffs, previous.alpha)
    return replace(
        previous,
        n=len(diffs),
        diff=math.fsum(diffs) / len(diffs),
        low=max(previous.low, low),
        high=min(previous.high, high),
        log_e_ahead=max(previous.log_e_ahead, log_evalue(diffs, 0.0, "up")),
        log_e_behind=max(previous.log_e_behind, log_evalue(diffs, 0.0, "down")),
        log_e_above_minus_margin=max(
            previous.log_e_above_minus_margin, log_evalue(diffs, -margin, "up")
        ),
        log_e_below_plus_margin=max(
            previous.log_e_below_plus_margin, log_evalue(diffs, margin, "down")
        ),
    )
