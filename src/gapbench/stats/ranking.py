"""Ranks of many models with bootstrap intervals, resampling instances jointly across models.

Every model is scored on the same instances, so one bootstrap index set is drawn per resample and
shared by all of them (a paired bootstrap): an instance that is hard for everyone moves every
model at once and does not blur the ranks. In each resample the models are ranked by accuracy
(1 + the number of models strictly better, so tied models share the better rank), and each
model's interval is the 2.5th and 97.5th percentile of its ranks: the bootstrap rank interval
that Hall and Miller study ("Using the bootstrap to quantify the authority of an empirical
ranking", Annals of Statistics 37(6B), 2009). LMArena's "Rank (UB)" is coarser: 1 + the number of
models whose score interval lies wholly above this model's (recompute_final_ranking in
lm-sys/FastChat, fastchat/serve/monitor/monitor.py).

Only correctness matters to a resample, and a resample's scores depend only on how many times it
drew each pattern of right and wrong answers across the models, so instances are first folded
into their patterns (at most min(n, 2**models) of them) and each resample draws how often it
takes each pattern from their multinomial, in time independent of n. Standard library only;
tests check the resampled counts' distribution against numpy's, the intervals computed from
them against numpy and scipy, and the intervals by simulation.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gapbench.stats.intervals import check_confidence
from gapbench.stats.sampling import multinomial
from gapbench.stats.summary import InstanceId, instance_id
from gapbench.store.records import SampleRecord

RANK_RESAMPLES = 1000
"""Resamples behind a rank interval: enough for its 2.5th and 97.5th percentiles (25 resamples
beyond each), cheap enough to compute on every leaderboard."""


@dataclass(frozen=True)
class SharedOutcomes:
    """Correctness of several models on the instances all of them answered, aligned."""

    models: tuple[str, ...]
    instances: tuple[InstanceId, ...]
    correct: Mapping[str, tuple[bool, ...]]
    """model -> correctness on `instances`, in their order."""


def shared_outcomes(samples: Iterable[SampleRecord], models: Sequence[str]) -> SharedOutcomes:
    """The models' correctness on the instances every one of them answered.

    As for a paired verdict (summary.paired_outcomes): only draw 0 and the first phrasing count,
    so each instance is one observation, and of an instance answered under several settings the
    latest answer counts."""
    latest: dict[str, dict[InstanceId, SampleRecord]] = {model: {} for model in models}
    for s in samples:
        by_instance = latest.get(s.key.model_id)
        if by_instance is None or s.error is not None or s.key.draw != 0 or s.prompt_variant:
            continue
        instance = instance_id(s)
        seen = by_instance.get(instance)
        if seen is None or s.created_at >= seen.created_at:
            by_instance[instance] = s
    if not models:
        return SharedOutcomes((), (), {})
    common = set.intersection(*(set(latest[m]) for m in models))
    shared = tuple(sorted(common, key=repr))
    return SharedOutcomes(
        models=tuple(models),
        instances=shared,
        correct={m: tuple(latest[m][i].correct for i in shared) for m in models},
    )


def bootstrap_correct_counts(
    columns: Sequence[Sequence[bool]], n_resamples: int, seed: int
) -> list[tuple[int, ...]]:
    """For each resample of the rows (instances) drawn with replacement, the number of right
    answers of every column (model) in it: one index set shared by all columns. Deterministic
    for a given seed."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not columns:
        return [() for _ in range(n_resamples)]
    n = len(columns[0])
    if any(len(column) != n for column in columns):
        raise ValueError("every model's outcomes must cover the same instances")
    if n == 0:
        raise ValueError("cannot bootstrap an empty set of instances")
    # A resample's counts depend only on how often it drew each pattern of right and wrong
    # answers across the models, and those frequencies are one multinomial draw: O(patterns)
    # per resample instead of O(n) (stats/sampling.py).
    patterns = Counter(tuple(bool(column[i]) for column in columns) for i in range(n))
    kinds = list(patterns)
    weights = [patterns[kind] for kind in kinds]
    right_in = [[p for p, kind in enumerate(kinds) if kind[j]] for j in range(len(columns))]
    rng = random.Random(seed)
    counts_per_resample = []
    for _ in range(n_resamples):
        drawn = multinomial(rng, n, weights)
        counts_per_resample.append(tuple(sum(drawn[p] for p in right) for right in right_in))
    return counts_per_resample


def competition_ranks(scores: Sequence[float]) -> list[int]:
    """1 + the number of strictly higher scores: ties share the better rank ('1224')."""
    return [1 + sum(other > score for other in scores) for score in scores]


def inverted_cdf_quantile(sorted_values: Sequence[int], q: float) -> int:
    """The smallest value whose empirical CDF reaches q (numpy's method='inverted_cdf'): ranks are
    whole numbers, and an interval of ranks should be too."""
    if not sorted_values:
        raise ValueError("no values")
    # round() absorbs binary residue: 0.025 * 1000 is 25.000000000000004 in floating point.
    position = math.ceil(round(q * len(sorted_values), 9))
    return sorted_values[min(max(position, 1), len(sorted_values)) - 1]


@dataclass(frozen=True)
class RankInterval:
    """A model's rank among the models compared, with its bootstrap interval."""

    model: str
    rank: int
    """Rank by accuracy on the shared instances (1 = best; ties share the better rank)."""
    low: int
    high: int
    """Percentile interval of the rank over paired bootstrap resamples (e.g. 1 and 2)."""
    instances: int
    """Instances all compared models answered: what the ranks are taken on."""


def rank_intervals(
    outcomes: SharedOutcomes,
    confidence: float = 0.95,
    n_resamples: int = RANK_RESAMPLES,
    seed: int = 0,
) -> dict[str, RankInterval]:
    """Each model's rank and its `confidence` bootstrap interval; empty when fewer than two
    models are compared or they share no instance."""
    check_confidence(confidence)
    models = outcomes.models
    if len(models) < 2 or not outcomes.instances:
        return {}
    columns = [outcomes.correct[m] for m in models]
    point = competition_ranks([sum(column) for column in columns])
    resampled = [
        competition_ranks(counts) for counts in bootstrap_correct_counts(columns, n_resamples, seed)
    ]
    tail = (1.0 - confidence) / 2.0
    intervals = {}
    for j, model in enumerate(models):
        ranks = sorted(r[j] for r in resampled)
        intervals[model] = RankInterval(
            model=model,
            rank=point[j],
            low=inverted_cdf_quantile(ranks, tail),
            high=inverted_cdf_quantile(ranks, 1.0 - tail),
            instances=len(outcomes.instances),
        )
    return intervals
