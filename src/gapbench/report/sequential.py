"""Printing `gapbench run --until-verdict`: each pair's decision as it happens, why the run
stopped, and every pair's verdict at the end. Plain lines through click, on stdout, printed
between rounds (the progress bar of a round draws on stderr and is gone by then)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gapbench.sequential_run import PairState, Stop


def _pts(fraction: float) -> str:
    from gapbench.stats.paired import format_pts

    return format_pts(fraction)


def _cs(low: float, high: float, pairs: int) -> str:
    over = f", Bonferroni over {pairs} pairs" if pairs > 1 else ""
    return f"anytime-valid 95% CS {_pts(low)}..{_pts(high)}{over}"


def _e(log_value: float) -> str:
    """An e-value for print: whole numbers up to a million, then two significant digits."""
    if log_value > math.log(1e6):
        exponent = log_value / math.log(10.0)
        return f"{10 ** (exponent % 1):.1f}e{int(exponent)}"
    return f"{math.exp(log_value):,.0f}"


def pair_sentence(pair: PairState, pairs: int) -> str:
    """One pair's verdict in words, from the leader's side for a lead, e.g. 'A leads B by +40.0
    pts (anytime-valid test of no lead: e-value 97 >= 40; anytime-valid 95% CS +12.1..+63.0,
    n=30)'. The verdict comes from the one-sided tests of stats/sequential.py; when the
    confidence sequence beside it does not show it yet, the sentence says so."""
    state, a, b = pair.look, pair.model_a, pair.model_b
    margin = f"{100 * state.margin:.1f}"
    n = f"n={state.n:,}"
    threshold = _e(state.threshold)
    kind = state.kind
    if kind == "equivalent":
        sentence = (
            f"{a} has caught up with {b}: the gap is within ±{margin} pts (anytime-valid tests "
            f"of a gap of {margin} pts or more either way: e-values "
            f"{_e(state.log_e_below_plus_margin)} and {_e(state.log_e_above_minus_margin)} "
            f">= {threshold}; {a} - {b} = {_pts(state.diff)} pts, "
            f"{_cs(state.low, state.high, pairs)}, {n})"
        )
        if not state.cs_agrees:
            sentence += f"; the CS, built for width, still reaches past ±{margin} pts"
        if state.above_zero or state.below_zero:
            leader, trailer = (a, b) if state.above_zero else (b, a)
            sentence += f", though {leader} still leads {trailer} by a small but real margin"
        return sentence
    if kind in ("ahead", "behind"):
        if kind == "ahead":
            leader, trailer, gap, low, high = a, b, state.diff, state.low, state.high
            evidence = state.log_e_ahead
        else:
            leader, trailer, gap, low, high = b, a, -state.diff, -state.high, -state.low
            evidence = state.log_e_behind
        sentence = (
            f"{leader} leads {trailer} by {_pts(gap)} pts (anytime-valid test of no lead: "
            f"e-value {_e(evidence)} >= {threshold}; {_cs(low, high, pairs)}, {n})"
        )
        if not state.cs_agrees:
            sentence += "; the CS, built for width, does not exclude 0 yet"
        return sentence
    return (
        f"cannot yet tell who leads, nor whether the gap between {a} and {b} is under {margin} "
        f"pts: {a} - {b} = {_pts(state.diff)} pts ({_cs(state.low, state.high, pairs)}, {n})"
    )


class SequentialPrinter:
    """Implements sequential_run.SequentialListener by printing."""

    def __init__(self, tasks: int) -> None:
        self._tasks = tasks

    def round_started(self, n: int, added: int, models: Sequence[str]) -> None:
        click.echo(
            f"Round to {n:,} instances per task (+{added:,}) for {len(models)} models: "
            + ", ".join(models),
            err=True,
        )

    def pair_settled(self, pair: PairState, pairs: int) -> None:
        n = pair.settled_at or 0
        paired = f" ({pair.look.n:,} paired)" if self._tasks > 1 else ""
        click.echo(f"after {n:,} instances per task{paired}: {pair_sentence(pair, pairs)}")

    def stopped(self, stop: Stop) -> None:
        click.echo(f"Stopped: {stop.reason}.")


def print_sequential_verdicts(pairs: Sequence[PairState]) -> None:
    """Every pair's verdict once the run has stopped, settled ones with the round they settled
    at."""
    click.echo("")
    click.echo(
        "Sequential verdicts (same instances; anytime-valid one-sided tests, with their "
        "confidence sequences):"
    )
    for pair in pairs:
        when = (
            f" [settled after {pair.settled_at:,} instances per task]"
            if pair.settled_at is not None
            else " [not settled]"
        )
        click.echo(f"  {pair_sentence(pair, len(pairs))}{when}")
