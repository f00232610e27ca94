"""Samples to a verdict: `gapbench run --until-verdict` (anytime-valid tests by betting, rounds
of 10, 12, 15, 18, ... instances) against a fixed-n McNemar design of equal power, by simulation.

    .venv/bin/python benchmarks/bench_sequential.py --sims 4000 --discordant 0.35 0.2 0.5
    .venv/bin/python benchmarks/bench_sequential.py --rule cs ...   # the rule before 2026-12-02

One pair of models; each paired instance is +1 (only A right), -1 (only B right) or 0, with
P(+1) - P(-1) = the true gap and P(+1) + P(-1) = the discordance rate (35% by default: two models
of 50-80% accuracy that err independently). The sequential design is exactly the one the CLI
runs, at alpha 0.05, looked at after each round of sequential_run.round_sizes:

- `--rule tests` (the CLI's since 2026-12-02): stats/sequential.py's four mixture e-processes;
  a lead when the test against "no lead" reaches 2 / alpha on either side, caught up within ±5
  points when both tests against ±5 points or more do;
- `--rule cs` (before): the hedged betting confidence sequence, a lead when it excludes 0, caught
  up when it lies inside ±5 points.

The e-processes and capitals are computed with numpy here (the same formulas;
tests/stats/test_sequential.py checks numpy copies against the module). The e-process against
"no lead" depends only on the counts of +1 and -1 and rises with the first, so whether it has
crossed at an instance is read off a table of the fewest +1 needed for each count of -1.

The fixed-n design is McNemar's exact test at 5%, two-sided, as `gapbench compare` uses it; its
power at n pairs is computed exactly (binomial over the discordant pairs, then over their split).

Power is matched two ways, both reported:

- design: both designs are sized for 80% power at the smallest gap that matters, 10 points. The
  fixed design draws the n that gives it 80% power there, whatever the true gap; the sequential
  design's --max-n is the smallest round size at which it settles 10-point gaps as a lead 80% of
  the time. This is the comparison a user faces: nobody knows the gap in advance.
- oracle: for each true gap, each design is sized for 80% power at that very gap (the fixed n
  for 80% there; the sequential --max-n for 80% there), which no user can do; it isolates the
  cost of anytime validity itself.

Samples are paired instances (two samples each).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from gapbench.sequential_run import GROWTH, round_sizes
from gapbench.stats.sequential import BET_FRACTIONS

ALPHA = 0.05
MARGIN = 0.05
POWER = 0.8
DESIGN_GAP = 0.10
GAPS = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)
"""The grid of true gaps. Above the design gap, every 5 points up to 30 (or the discordance rate,
the largest gap it allows): the mean saving "where the gap is at least 10 points" is a mean over
that range, and 5-point steps estimate it better than 10-point ones (also printed)."""
HORIZON = 4000
"""Paired instances simulated per run; rounds past it are not looked at."""


def _capital_paths(x: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray]:
    """log K+ and log K- of the hedged betting CS after every instance (stats/sequential.py)."""
    t = np.arange(1, x.shape[1] + 1)
    mean = np.minimum((0.5 + np.cumsum(x, axis=1)) / (t + 1), 1)
    variance = (0.25 + np.cumsum((x - mean) ** 2, axis=1)) / (t + 1)
    lagged = np.concatenate([np.full((x.shape[0], 1), 0.25), variance[:, :-1]], axis=1)
    bets = np.sqrt(2 * np.log(2 / ALPHA) / (t * np.log1p(t) * lagged))
    up = np.cumsum(np.log1p(np.minimum(bets, 0.5 / m) * (x - m)), axis=1)
    down = np.cumsum(np.log1p(-np.minimum(bets, 0.5 / (1 - m)) * (x - m)), axis=1)
    return up, down


def _log_mixture(
    counts: tuple[np.ndarray, np.ndarray, np.ndarray], g0: float, up: bool
) -> np.ndarray:
    """log of stats/sequential.py's mixture e-process against gap <= g0 (up) or gap >= g0 (down)
    at the given counts of +1, -1 and 0."""
    sign, scale = (1.0, 1 + g0) if up else (-1.0, 1 - g0)
    logs = [
        sum(
            c * math.log1p(sign * f / scale * (v - g0))
            for c, v in zip(counts, (1, -1, 0), strict=True)
        )
        for f in BET_FRACTIONS
    ]
    stacked = np.stack([np.asarray(v, dtype=float) for v in logs])
    top = stacked.max(axis=0)
    result: np.ndarray = top + np.log(np.exp(stacked - top).mean(axis=0))
    return result


def _fewest_wins(horizon: int) -> np.ndarray:
    """For each count of -1 up to horizon, the fewest +1 at which the e-process against 'no lead'
    (g0 = 0, where zeros do not count) reaches 2 / alpha: it rises with +1 and falls with -1."""
    losses = np.arange(horizon + 1, dtype=float)
    zero = np.zeros_like(losses)
    threshold = math.log(2 / ALPHA)
    low, high = np.zeros_like(losses), np.full_like(losses, 4.0 * horizon + 100)
    while (high - low > 1).any():  # bisection on whole numbers, all counts at once
        middle = np.floor((low + high) / 2)
        crossed = _log_mixture((middle, losses, zero), 0.0, True) >= threshold
        high, low = np.where(crossed, middle, high), np.where(crossed, low, middle)
    return high.astype(np.int64)


@dataclass(frozen=True)
class Sequential:
    """Per simulated run: the round size at which it settled (HORIZON + 1: not by HORIZON) and
    how (1 lead for A, -1 lead for B, 0 caught up)."""

    settled_at: np.ndarray
    verdict: np.ndarray
    lead_now: np.ndarray
    """Per run and instance: the test (or capital) for a lead of A is past 2 / alpha there (a
    look at that instance, the last round cut at --max-n, would call the lead)."""


def simulate(
    gap: float, discordant: float, sims: int, seed: int, rule: str, growth: float = GROWTH
) -> Sequential:
    rng = np.random.default_rng(seed)
    looks = np.array([n for n in round_sizes(HORIZON, growth=growth)]) - 1
    threshold = math.log(2 / ALPHA)
    fewest = _fewest_wins(HORIZON) if rule == "tests" else None
    settled_at, verdict, lead_now = [], [], []
    for start in range(0, sims, 500):
        rows = min(500, sims - start)
        up_p, down_p = (discordant + gap) / 2, (discordant - gap) / 2
        d = rng.choice(np.array([1, -1, 0]), p=[up_p, down_p, 1 - up_p - down_p],
                       size=(rows, HORIZON))  # fmt: skip
        if fewest is not None:
            wins, losses = np.cumsum(d == 1, axis=1), np.cumsum(d == -1, axis=1)
            now = wins >= fewest[losses]
            at = (wins[:, looks], losses[:, looks], (looks + 1) - wins[:, looks] - losses[:, looks])
            up0 = np.where(now[:, looks], threshold, -np.inf)
            down0 = np.where(losses[:, looks] >= fewest[wins[:, looks]], threshold, -np.inf)
            up_low = _log_mixture(at, -MARGIN, True)
            down_high = _log_mixture(at, MARGIN, False)
        else:
            x = (d + 1) / 2
            up_all, down_all = _capital_paths(x, 0.5)
            now = up_all >= threshold
            up0, down0 = up_all[:, looks], down_all[:, looks]
            up_low = _capital_paths(x, (1 - MARGIN) / 2)[0][:, looks]
            down_high = _capital_paths(x, (1 + MARGIN) / 2)[1][:, looks]
        # Sticky over the looks, as the CLI's running maximum (or intersection).
        ahead = np.maximum.accumulate(up0 >= threshold, axis=1)
        behind = np.maximum.accumulate(down0 >= threshold, axis=1)
        level = np.maximum.accumulate(up_low >= threshold, axis=1) & (
            np.maximum.accumulate(down_high >= threshold, axis=1)
        )
        any_settled = ahead | behind | level
        first = np.where(any_settled.any(axis=1), any_settled.argmax(axis=1), -1)
        at_n = np.where(first >= 0, looks[first] + 1, HORIZON + 1)
        index = np.arange(rows), np.maximum(first, 0)
        kind = np.where(level[index], 0, np.where(ahead[index], 1, -1))
        settled_at.append(at_n)
        verdict.append(np.where(first >= 0, kind, 2))
        lead_now.append(now)
    return Sequential(np.concatenate(settled_at), np.concatenate(verdict), np.concatenate(lead_now))


def fixed_power(n: int, gap: float, discordant: float) -> float:
    """Power of McNemar's exact test at ALPHA, two-sided, to find A ahead with n pairs."""
    k = np.arange(n + 1)
    weights = scipy_stats.binom.pmf(k, n, discordant)
    share = (discordant + gap) / (2 * discordant)
    power = 0.0
    for count, weight in zip(k, weights, strict=True):
        if weight < 1e-15 or count == 0:
            continue
        # Largest c with 2 P(Bin(count, 1/2) <= c) < ALPHA: A ahead when only-A >= count - c.
        c = int(scipy_stats.binom.ppf(ALPHA / 2, count, 0.5))
        while c >= 0 and 2 * scipy_stats.binom.cdf(c, count, 0.5) >= ALPHA:
            c -= 1
        if c < 0:
            continue
        power += weight * scipy_stats.binom.sf(count - c - 1, count, share)
    return float(power)


def fixed_n_for(power: float, gap: float, discordant: float) -> int:
    """The smallest n whose McNemar power reaches `power` at `gap` (bisection, then a scan down
    over the saw-tooth of the discrete test)."""
    low, high = 1, 2
    while fixed_power(high, gap, discordant) < power:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if fixed_power(middle, gap, discordant) >= power:
            high = middle
        else:
            low = middle
    return high


def lead_power(run: Sequential, max_n: int) -> float:
    """Share of runs settled as a lead for A with --max-n max_n: at a round before max_n, or at
    the last look, max_n itself (round_sizes(max_n) is the standard rounds below it, then it)."""
    before = run.settled_at < max_n
    at_last = ~before & run.lead_now[:, max_n - 1]
    return float(np.mean((before & (run.verdict == 1)) | at_last))


def sequential_max_n(run: Sequential, power: float) -> int:
    """The smallest --max-n (any whole number, not only a round size) at which `power` of the
    runs settle as a lead for A."""
    low, high = 1, HORIZON
    if lead_power(run, high) < power:
        return HORIZON + 1
    while high - low > 1:  # the power rises with max_n but for the odd saw-tooth step
        middle = (low + high) // 2
        if lead_power(run, middle) >= power:
            high = middle
        else:
            low = middle
    return high


def spent(run: Sequential, max_n: int) -> float:
    """Mean paired instances drawn with --max-n max_n: the round that settled, else max_n."""
    return float(np.mean(np.minimum(run.settled_at, max_n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=4000)
    parser.add_argument("--discordant", type=float, nargs="+", default=[0.35])
    parser.add_argument("--rule", choices=["tests", "cs"], default="tests",
                        help="tests: the CLI's (default); cs: the rule before")  # fmt: skip
    parser.add_argument("--gaps", type=float, nargs="+", default=list(GAPS),
                        help="true gaps, as fractions (0.1 = 10 points)")  # fmt: skip
    parser.add_argument("--growth", type=float, default=GROWTH,
                        help="round growth (sequential_run.GROWTH by default)")  # fmt: skip
    args = parser.parse_args()
    if DESIGN_GAP not in args.gaps:
        parser.error(f"--gaps must include the design gap {DESIGN_GAP}")
    started = time.perf_counter()
    for discordant in args.discordant:
        gaps = [g for g in args.gaps if g <= discordant]  # only-B-right cannot be negative
        runs = {
            g: simulate(g, discordant, args.sims, int(1000 * g) + 7, args.rule, args.growth)
            for g in gaps
        }
        fixed_design = fixed_n_for(POWER, DESIGN_GAP, discordant)
        max_n = sequential_max_n(runs[DESIGN_GAP], POWER)
        rounds = ", ".join(map(str, round_sizes(HORIZON, growth=args.growth)[:9]))
        print(f"\nrule {args.rule}, discordance {discordant:.0%}, {args.sims:,} runs per gap, "
              f"alpha {ALPHA}, margin ±{100 * MARGIN:.0f} pts, rounds "
              f"{rounds}, ...")  # fmt: skip
        print(f"design matching (80% power at a {100 * DESIGN_GAP:.0f}-pt gap): fixed n = "
              f"{fixed_design}, sequential --max-n = {max_n}")  # fmt: skip
        print("gap  | seq mean n  seq median  seq right  seq wrong | fixed n  fixed power | "
              "saving | oracle: seq max-n  seq mean n  fixed n  saving")  # fmt: skip
        savings_design, savings_oracle, coarse = [], [], []
        for gap in gaps:
            run = runs[gap]
            mean_n = spent(run, max_n)
            median = float(np.median(np.minimum(run.settled_at, max_n)))
            lead = lead_power(run, max_n)
            wrong = float(np.mean(
                ((run.verdict == -1) | ((run.verdict == 1) & (gap <= 0))
                 | ((run.verdict == 0) & (gap >= MARGIN))) & (run.settled_at <= max_n)
            ))  # fmt: skip
            level = float(np.mean((run.verdict == 0) & (run.settled_at <= max_n)))
            power_shown = level + (lead if gap > 0 else 0.0) if gap < MARGIN else lead
            power_fixed = fixed_power(fixed_design, gap, discordant)
            saving = 1 - mean_n / fixed_design
            oracle = ""
            if gap >= DESIGN_GAP:
                savings_design.append(saving)
                if round(100 * gap) % 10 == 0:
                    coarse.append(saving)
                own_max = sequential_max_n(run, POWER)
                own_mean = spent(run, own_max)
                own_fixed = fixed_n_for(POWER, gap, discordant)
                savings_oracle.append(1 - own_mean / own_fixed)
                own_saving = 1 - own_mean / own_fixed
                oracle = f"{own_max:>8}  {own_mean:>10.1f}  {own_fixed:>7}  {own_saving:+.0%}"
            print(f"{100 * gap:>4.0f} | {mean_n:>10.1f}  {median:>10.0f}  {power_shown:>9.1%}  "
                  f"{wrong:>9.2%} | {fixed_design:>7}  {power_fixed:>11.1%} | {saving:>+6.0%} | "
                  f"{oracle}")  # fmt: skip
        design, oracle_mean = np.mean(savings_design), np.mean(savings_oracle)
        print(f"mean saving where the gap >= 10 pts: design matching {design:+.0%}, "
              f"oracle matching {oracle_mean:+.0%}; over the gaps of 10, 20, 30 pts only "
              f"(design matching): {np.mean(coarse):+.0%}")  # fmt: skip
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
