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
    patterns: tuple[tuple[tuple[bool, ...], int], ...] | None = None
    """The same outcomes folded, when whoever built them (report/outcomes.py, in SQL) did not
    materialise the instances: each pattern of right answers (one flag per model, in `models`
    order) with how many shared instances show it, in order of first occurrence over the
    instances sorted by repr. `instances` and `correct` are then empty; `size` counts."""

    @property
    def size(self) -> int:
        """How many instances every model answered."""
        if self.patterns is not None:
            return sum(n for _, n in self.patterns)
        return len(self.instances)

    def folded(self, models: Sequence[str] | None = None) -> Patterns:
        """The patterns of right answers of `models` (default: all, in order), in order of first
        occurrence over the instances, and how many instances show each: what a paired bootstrap
        of these outcomes depends on."""
        chosen = list(self.models if models is None else models)
        if self.patterns is None:
            return fold_patterns([self.correct[m] for m in chosen])
        where = [self.models.index(m) for m in chosen]
        merged: dict[tuple[bool, ...], int] = {}
        for kind, n in self.patterns:
            projected = tuple(kind[j] for j in where)
            merged[projected] = merged.get(projected, 0) + n
        return Patterns(tuple(merged), tuple(merged.values()))


@dataclass(frozen=True)
class Patterns:
    """Outcomes folded into their patterns of right and wrong answers across models."""

    kinds: tuple[tuple[bool, ...], ...]
    """Each pattern (one flag per model), in order of first occurrence over the instances."""
    weights: tuple[int, ...]
    """How many instances show each pattern."""

    @property
    def size(self) -> int:
        return sum(self.weights)

    def right(self) -> list[int]:
        """Right answers of each model."""
        width = len(self.kinds[0]) if self.kinds else 0
        return [
            sum(n for kind, n in zip(self.kinds, self.weights, strict=True) if kind[j])
            for j in range(width)
        ]


def fold_patterns(columns: Sequence[Sequence[bool]]) -> Patterns:
    """Aligned columns (one per model) folded into patterns, in order of first occurrence."""
    if not columns:
        return Patterns((), ())
    n = len(columns[0])
    if any(len(column) != n for column in columns):
        raise ValueError("every model's outcomes must cover the same instances")
    patterns = Counter(tuple(bool(column[i]) for column in columns) for i in range(n))
    return Patterns(tuple(patterns), tuple(patterns.values()))


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
    patterns = fold_patterns(columns)
    if not patterns.kinds:
        raise ValueError("cannot bootstrap an empty set of instances")
    return bootstrap_pattern_counts(patterns, n_resamples, seed)


def bootstrap_pattern_counts(
    patterns: Patterns, n_resamples: int, seed: int
) -> list[tuple[int, ...]]:
    """bootstrap_correct_counts of the instances these patterns fold (the same draws)."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    n = patterns.size
    if n == 0:
        raise ValueError("cannot bootstrap an empty set of instances")
    # A resample's counts depend only on how often it drew each pattern of right and wrong
    # answers across the models, and those frequencies are one multinomial draw: O(patterns)
    # per resample instead of O(n) (stats/sampling.py).
    kinds = patterns.kinds
    weights = list(patterns.weights)
    right_in = [[p for p, kind in enumerate(kinds) if kind[j]] for j in range(len(kinds[0]))]
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
    size = outcomes.size
    if len(models) < 2 or not size:
        return {}
    patterns = outcomes.folded()
    point = competition_ranks(patterns.right())
    resampled = [
        competition_ranks(counts)
        for counts in bootstrap_pattern_counts(patterns, n_resamples, seed)
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
            instances=size,
        )
    return intervals
