"""`gapbench run --until-verdict`: draw fresh instances in rounds until every pair of models is
settled, or a budget is spent.

Round k runs the ordinary runner (runner.py) with --n raised to the round's size, so every
sample is stored, resumable and generated once, exactly as in a plain run: instances are indices
0..n-1 of the seed's stream, and a round only adds the indices past the previous one's. Rounds
are 10 instances per task, then 1.2 times as many each round, rounded up (10, 12, 15, 18, 22,
27, 33, 40, 48, 58, 70, ...), the last one cut at --max-n: geometric growth keeps the number of
looks, and the time spent loading models between rounds, logarithmic in the instances drawn,
while drawing at most a fifth more instances than a verdict needed.

After each round the anytime-valid tests and confidence sequence of stats/sequential.py are
updated for every pair that is not settled yet, on the instances both models answered (draw 0,
first phrasing, as stats/summary.paired_outcomes pairs them), in the order they were drawn: index
by index, tasks in the order of the run. A pair is settled once the one-sided test against "no
lead" rejects on either side (a lead), or both tests against a gap of ±margin or more reject
(caught up), and is not updated again; a model stops running once all its
pairs are settled; the run stops when every pair is, or before a round that a budget cannot pay
for. With k models each pair is judged at alpha / (k(k-1)/2), so the chance of any wrong verdict
stays at most 5%.

A killed run, rerun, replays the rounds from what is stored: the rounds already stored generate
nothing, reach the same verdicts at the same rounds, and the run continues where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import TYPE_CHECKING, Protocol

from gapbench.stats.equivalence import DEFAULT_MARGIN
from gapbench.stats.sequential import ALPHA, Look, look, start

if TYPE_CHECKING:
    from gapbench.catalog.types import ModelSpec
    from gapbench.perf.attribution import Accounting
    from gapbench.runner import BackendFactory, ProgressListener, RunConfig, RunOutcome
    from gapbench.store.records import SampleRecord
    from gapbench.store.repository import Store

FIRST_ROUND = 10
"""Instances per task in the first round: with fewer, even a pair that disagrees on every
instance, all one way, cannot be settled (no bet stakes more than 90% of the capital, so the
mixture e-process needs nine straight wins to reach 2 / alpha at alpha 0.05, more with
several pairs)."""
GROWTH = 1.2
"""Each round draws this many times as many instances per task as the one before. A verdict
reached inside a round is only seen at its end, so coarser rounds overshoot: in the simulation
of benchmarks/bench_sequential.py (35% of instances discordant, both designs at 80% power for a
10-point gap), the mean saving against a fixed-n design over gaps of 10, 20 and 30 points is 43%
with 1.5x rounds and 50% with 1.2x (52% with 1.1x), docs/benchmarks.md. Finer rounds cost a
model load each for local models (about a second for the sub-1B GGUF models) and smaller
batches; 1.2x keeps the rounds to 22 up to the default --max-n."""
DEFAULT_MAX_N = 500
"""Instances per task at most, unless --max-n says otherwise: enough to settle a 10-point gap
between models that disagree on a third of the instances about nine times in ten, and about half
an hour a model on the quick suite with a sub-1B model on 2 cores."""


def round_sizes(max_n: int, first: int = FIRST_ROUND, growth: float = GROWTH) -> tuple[int, ...]:
    """Instances per task after each round: first, then growth times the previous, rounded up,
    the last one cut at max_n."""
    if max_n < 1:
        raise ValueError(f"max_n must be at least 1, got {max_n}")
    sizes = [min(first, max_n)]
    while sizes[-1] < max_n:
        sizes.append(min(max_n, max(sizes[-1] + 1, math.ceil(sizes[-1] * growth))))
    return tuple(sizes)


@dataclass(frozen=True)
class Budget:
    """When to stop, if the verdicts have not settled first."""

    max_n: int = DEFAULT_MAX_N
    """Instances per task."""
    max_usd: float | None = None
    """Dollars, as the leaderboard charges them (perf/cost.py), over every sample the verdicts
    rest on, the ones stored by an earlier (killed) run included."""
    max_minutes: float | None = None
    """Wall-clock minutes of this command."""


@dataclass(frozen=True)
class PairState:
    """One pair's confidence sequence, from A's side, and when it settled."""

    model_a: str
    model_b: str
    look: Look
    settled_at: int | None = None
    """Instances per task of the round after which the pair settled (None: not settled)."""

    @property
    def settled(self) -> bool:
        return self.settled_at is not None


@dataclass(frozen=True)
class Stop:
    """Why the run stopped, after how many instances per task."""

    reason: str
    n: int
    settled: bool
    """Every pair is settled (else a budget ran out)."""


@dataclass(frozen=True)
class SequentialResult:
    pairs: tuple[PairState, ...]
    stop: Stop
    n_by_model: Mapping[str, int]
    """Instances per task each model ran: the size of the last round it took part in."""
    scopes: Mapping[str, frozenset[tuple[str, str]]]
    """(task, settings hash) pairs each model's samples are stored under."""
    outcomes: tuple[RunOutcome, ...] = field(default=())


class SequentialListener(Protocol):
    """What the loop reports, for the CLI to print."""

    def round_started(self, n: int, added: int, models: Sequence[str]) -> None: ...

    def pair_settled(self, pair: PairState, pairs: int) -> None: ...

    def stopped(self, stop: Stop) -> None: ...


def pair_alpha(models: int, alpha: float = ALPHA) -> float:
    """The error each pair is judged at: alpha shared out over the pairs (Bonferroni)."""
    return alpha / max(1, models * (models - 1) // 2)


def run_until_verdict(
    config: RunConfig,
    store: Store,
    load: BackendFactory,
    budget: Budget,
    listener: SequentialListener,
    progress: Callable[[], AbstractContextManager[ProgressListener]],
    accounting: Callable[[], Accounting],
    margin: float = DEFAULT_MARGIN,
    clock: Callable[[], float] = time.monotonic,
) -> SequentialResult:
    """Run `config` (its n is ignored) round by round until every pair is settled or `budget`
    is spent; see the module docstring. `progress` makes the runner's progress listener for one
    round; `accounting` charges stored samples their dollars."""
    from gapbench.runner import check_config, run_evaluation

    ids = [m.id for m in config.models]
    if len(set(ids)) < 2:
        raise ValueError("run_until_verdict needs at least two different models")
    alpha = pair_alpha(len(ids))
    pairs = [PairState(a, b, start(margin, alpha)) for a, b in combinations(ids, 2)]
    sizes = round_sizes(budget.max_n)
    check_config(replace(config, n=sizes[-1]))
    started = clock()
    generating = 0.0
    generated = 0
    n_by_model: dict[str, int] = {}
    scopes: dict[str, frozenset[tuple[str, str]]] = {}
    outcomes: list[RunOutcome] = []
    done = 0
    spend: tuple[float | None, int] = (0.0, 0)
    stop: Stop | None = None
    for step, n in enumerate(sizes):
        active = [m for m in config.models if any(_waits(p, m.id) for p in pairs)]
        if step:
            rate = generating / generated if generated else None
            upcoming = _next_samples(config, active, n - done)
            stop = _over_budget(budget, upcoming, done, n, clock() - started, rate, spend)
            if stop is not None:
                break
        listener.round_started(n, n - done, [m.id for m in active])
        began = clock()
        with progress() as bar:
            round_outcomes = run_evaluation(replace(config, models=active, n=n), store, load, bar)
        made = sum(o.completed + o.failed for o in round_outcomes)
        if made:
            generating += clock() - began
            generated += made
        for outcome in round_outcomes:
            scopes[outcome.model_id] = scopes.get(outcome.model_id, frozenset()) | outcome.scope
            n_by_model[outcome.model_id] = n
        outcomes.extend(round_outcomes)
        done = n
        stored = _stored(store, config)
        diffs = paired_differences(stored, config, scopes, n_by_model)
        if budget.max_usd is not None:
            spend = spent_usd(stored, config, scopes, n_by_model, accounting())
        for i, pair in enumerate(pairs):
            if pair.settled:
                continue
            updated = look(pair.look, diffs.get((pair.model_a, pair.model_b), []))
            pairs[i] = replace(pair, look=updated, settled_at=n if updated.settled else None)
            if updated.settled:
                listener.pair_settled(pairs[i], len(pairs))
        if all(p.settled for p in pairs):
            stop = Stop(f"every pair is settled after {n:,} instances per task", n, True)
            break
    if stop is None:
        open_pairs = sum(not p.settled for p in pairs)
        stop = Stop(
            f"reached --max-n {budget.max_n:,} instances per task with {open_pairs} of "
            f"{len(pairs)} pairs unsettled",
            done,
            False,
        )
    listener.stopped(stop)
    return SequentialResult(tuple(pairs), stop, n_by_model, scopes, tuple(outcomes))


def _waits(pair: PairState, model_id: str) -> bool:
    return not pair.settled and model_id in (pair.model_a, pair.model_b)


def _stored(store: Store, config: RunConfig) -> list[SampleRecord]:
    return store.samples(
        model_ids=[m.id for m in config.models],
        tasks=[t.name for t in config.tasks],
        include_failed=True,
    )


def _in_scope(
    sample: SampleRecord,
    config: RunConfig,
    scopes: Mapping[str, frozenset[tuple[str, str]]],
    n_by_model: Mapping[str, int],
) -> bool:
    """A sample this run planned: its model's settings, seed, level, task version and an index
    of a round the model ran."""
    k = sample.key
    versions = {t.name: t.version for t in config.tasks}
    return (
        (k.task, k.settings_hash) in scopes.get(k.model_id, frozenset())
        and (k.seed, k.difficulty) == (config.seed, config.difficulty)
        and versions.get(k.task) == k.task_version
        and k.index < n_by_model.get(k.model_id, 0)
        and k.draw < config.samples
    )


def paired_differences(
    samples: Sequence[SampleRecord],
    config: RunConfig,
    scopes: Mapping[str, frozenset[tuple[str, str]]],
    n_by_model: Mapping[str, int],
) -> dict[tuple[str, str], list[int]]:
    """(A right) - (B right) on every instance both answered, for every pair of the config's
    models in order (A before B as in the config), in the order instances were drawn: index by
    index, tasks in the config's order. Draw 0 and the first phrasing only; failed samples are
    left out (a rerun retries them)."""
    position = {t.name: i for i, t in enumerate(config.tasks)}
    correct: dict[str, dict[tuple[int, int], bool]] = {m.id: {} for m in config.models}
    for s in samples:
        if s.error is not None or s.key.draw != 0 or s.prompt_variant != 0:
            continue
        if s.key.model_id not in correct or not _in_scope(s, config, scopes, n_by_model):
            continue
        correct[s.key.model_id][(s.key.index, position[s.key.task])] = s.correct
    ids = [m.id for m in config.models]
    result = {}
    for a, b in combinations(ids, 2):
        shared = sorted(correct[a].keys() & correct[b].keys())
        result[(a, b)] = [int(correct[a][i]) - int(correct[b][i]) for i in shared]
    return result


def spent_usd(
    samples: Sequence[SampleRecord],
    config: RunConfig,
    scopes: Mapping[str, frozenset[tuple[str, str]]],
    n_by_model: Mapping[str, int],
    accounting: Accounting,
) -> tuple[float | None, int]:
    """(dollars, samples) charged to the samples the verdicts rest on, failed ones included
    (they took time too); dollars None when a model has no price."""
    total = 0.0
    count = 0
    for s in samples:
        if not _in_scope(s, config, scopes, n_by_model):
            continue
        cost = accounting.cost_usd(s)
        if cost is None:
            return None, count
        total += cost
        count += 1
    return total, count


def _next_samples(config: RunConfig, active: Sequence[ModelSpec], added: int) -> int:
    """Samples a round adding `added` instances per task to the `active` models would plan."""
    from gapbench.runner import variants_for

    return sum(
        variants_for(model, task, config) * config.samples * added
        for model in active
        for task in config.tasks
    )


def _over_budget(
    budget: Budget,
    upcoming: int,
    done: int,
    n: int,
    elapsed: float,
    seconds_per_sample: float | None,
    spend: tuple[float | None, int],
) -> Stop | None:
    """Why the round up to `n` instances per task (`upcoming` samples) is not started, or None
    when the budgets allow it: a budget already spent, or one the round would overrun at the
    rate so far (time per sample generated by this command, dollars per sample stored)."""
    per_task = f"after {done:,} instances per task"
    if budget.max_minutes is not None:
        limit = budget.max_minutes * 60.0
        if elapsed >= limit:
            return Stop(
                f"spent --max-minutes {budget.max_minutes:g} ({elapsed / 60:.1f} min) {per_task}",
                done,
                False,
            )
        if seconds_per_sample is not None and elapsed + upcoming * seconds_per_sample > limit:
            need = (elapsed + upcoming * seconds_per_sample) / 60
            return Stop(
                f"the next round ({upcoming:,} samples, to {n:,} instances per task) would take "
                f"about {need:.1f} min in all, past --max-minutes {budget.max_minutes:g}; "
                f"stopped {per_task}",
                done,
                False,
            )
    if budget.max_usd is not None:
        spent, count = spend
        if spent is None:
            return Stop(f"a model has no price, so --max-usd cannot be kept; stopped {per_task}",
                        done, False)  # fmt: skip
        if spent >= budget.max_usd:
            return Stop(
                f"spent --max-usd {budget.max_usd:g} (${spent:.4g}) {per_task}", done, False
            )
        projected = spent + (spent / count if count else 0.0) * upcoming
        if projected > budget.max_usd:
            return Stop(
                f"the next round ({upcoming:,} samples, to {n:,} instances per task) would bring "
                f"the spend to about ${projected:.4g}, past --max-usd {budget.max_usd:g}; "
                f"stopped {per_task} (${spent:.4g} spent)",
                done,
                False,
            )
    return None
