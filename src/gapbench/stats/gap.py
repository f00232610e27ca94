"""The gap between origins: the best model of one origin against the best of another.

"Has China caught up?" compares the best Chinese model with the best American one, and which
model is best is itself measured on the same noisy instances. So the gap is the accuracy of the
best model of origin A minus that of the best of origin B, paired on the instances every compared
model answered, and its interval is a paired percentile bootstrap that picks the best model of
each origin again inside every resample: a resample in which another model of A comes out on top
measures the gap with that model, so the uncertainty of the selection is part of the interval
(a fixed selection would ignore the chance that the apparent leader only got lucky).

Of each instance only draw 0 and the first prompt phrasing count, as in a paired verdict
(ranking.shared_outcomes). The timeline repeats the overall gap as of each release date, with the
models of each origin released on or before it, on the same instances and resamples, so that the
rows differ only in which models had been released.

Coverage, measured by simulation (1000 datasets each, 1000 resamples, instances of shared
difficulty): 94-96% for a nominal 95% with one model per origin, a clear leader, or a near tie
(2 points) between two models of one origin; 97-99% (wider than needed) when several models
of each origin are close: two tied on each side, or three within 2 to 5 points.
It falls short where several models of one origin are equally good: with four tied CN models
against one US model, 83% at 100 instances and 80% at 400. The best of four equal accuracies is
biased upward (the winner's curse), and the percentile bootstrap, which re-selects from the
observed accuracies, does not remove that bias: max() is not differentiable where models tie,
and there the plain bootstrap is inconsistent (as in Andrews 2000, "Inconsistency of the
bootstrap when a parameter is on the boundary of the parameter space", Econometrica 68(2)).

Standard library only; tests check the bootstrap against numpy and its coverage by simulation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from gapbench.stats.pairtests import percentile
from gapbench.stats.ranking import (
    Patterns,
    SharedOutcomes,
    bootstrap_pattern_counts,
    fold_patterns,
    shared_outcomes,
)
from gapbench.stats.summary import OVERALL
from gapbench.store.records import SampleRecord

FIRST_ORIGIN = "CN"
SECOND_ORIGIN = "US"
"""The origins compared by default: the gap reads as best CN minus best US."""
UNKNOWN_ORIGIN = "unknown"
GAP_RESAMPLES = 2000
"""Bootstrap resamples per gap: its 90% and 95% intervals come from the same resamples."""


@dataclass(frozen=True)
class ModelOrigin:
    """Where a model comes from and when it was released, as the catalog says."""

    origin: str
    """ISO 3166 alpha-2 code of the organisation's country ('CN', 'US'...), or 'unknown'."""
    released: dt.date | None = None


@dataclass(frozen=True)
class Best:
    """The best model of one origin on a set of instances."""

    model: str
    accuracy: float
    """On the shared instances of its row."""
    share: float
    """Share of bootstrap resamples in which it was again (one of) the best of its origin."""


@dataclass(frozen=True)
class OriginGap:
    """Best of `first` minus best of `second` on one task, overall, or as of a date."""

    task: str
    """A task name, or OVERALL for the selected tasks pooled."""
    first: str
    second: str
    n_shared: int
    """Instances every compared model answered (draw 0, first phrasing)."""
    compared: dict[str, tuple[str, ...]]
    """origin -> the models of that origin the best was chosen from."""
    best: dict[str, Best] = field(default_factory=dict)
    """origin -> its best model; empty when there is no gap to measure (see note)."""
    diff: float | None = None
    """Accuracy of the best of `first` minus that of the best of `second`, a fraction."""
    ci90: tuple[float, float] | None = None
    ci95: tuple[float, float] | None = None
    """Paired percentile bootstrap intervals, re-selecting the best models in every resample."""
    kind: str | None = None
    """'ahead', 'behind', 'equivalent' or 'inconclusive', from `first`'s side (equivalence.py)."""
    as_of: dt.date | None = None
    """Timeline rows: only models released on or before this date were compared."""
    note: str | None = None
    """Why no gap was measured, when diff is None."""

    def as_dict(self) -> dict[str, object]:
        return {
            "task": self.task,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "first": self.first,
            "second": self.second,
            "n_shared": self.n_shared,
            "compared": {origin: list(models) for origin, models in self.compared.items()},
            "best": {
                origin: {"model": b.model, "accuracy": b.accuracy, "share": b.share}
                for origin, b in self.best.items()
            },
            "diff": self.diff,
            "ci90": list(self.ci90) if self.ci90 else None,
            "ci95": list(self.ci95) if self.ci95 else None,
            "kind": self.kind,
            "note": self.note,
        }


@dataclass(frozen=True)
class GapReport:
    """The gap on each task, overall, and as of each release date."""

    first: str
    second: str
    margin: float
    """Equivalence margin, a fraction: |gap| within it counts as no practical difference."""
    n_resamples: int
    tasks: list[OriginGap]
    overall: OriginGap
    timeline: list[OriginGap]
    models: dict[str, ModelOrigin]
    """Every model with results, and its origin and release date."""

    @property
    def left_out(self) -> list[str]:
        """Models of neither origin compared (other countries, or origin unknown)."""
        return [m for m, o in self.models.items() if o.origin not in (self.first, self.second)]

    @property
    def undated(self) -> list[str]:
        """Compared models without a release date: in every row but the timeline's."""
        return [m for m in self._compared if self.models[m].released is None]

    @property
    def _compared(self) -> list[str]:
        return [m for m, o in self.models.items() if o.origin in (self.first, self.second)]

    def as_dict(self) -> dict[str, object]:
        return {
            "by": "origin",
            "first": self.first,
            "second": self.second,
            "margin": self.margin,
            "n_resamples": self.n_resamples,
            "tasks": [row.as_dict() for row in self.tasks],
            "overall": self.overall.as_dict(),
            "timeline": [row.as_dict() for row in self.timeline],
            "models": [
                {
                    "model": m,
                    "origin": o.origin,
                    "released": o.released.isoformat() if o.released else None,
                }
                for m, o in self.models.items()
            ],
            "left_out": self.left_out,
            "undated": self.undated,
        }


def _best_index(counts: Sequence[int], members: Sequence[int]) -> int:
    """The member with the most right answers; the first listed among equals."""
    return max(members, key=lambda j: (counts[j], -j))


def best_gap(
    columns: Mapping[str, Sequence[bool]],
    first: Sequence[str],
    second: Sequence[str],
    n_resamples: int = GAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, Best, Best, tuple[float, float], tuple[float, float]]:
    """(gap, best of first, best of second, 90% CI, 95% CI) on aligned outcomes.

    The gap is max accuracy among `first` minus max accuracy among `second`; in every paired
    resample of the instances both maxima are taken again over the resampled accuracies."""
    if not first or not second:
        raise ValueError("each side needs at least one model")
    models = [*first, *second]
    if len(columns[models[0]]) == 0:
        raise ValueError("no shared instances")
    patterns = fold_patterns([columns[m] for m in models])
    return best_gap_of_patterns(patterns, first, second, n_resamples, seed)


def best_gap_of_patterns(
    patterns: Patterns,
    first: Sequence[str],
    second: Sequence[str],
    n_resamples: int = GAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, Best, Best, tuple[float, float], tuple[float, float]]:
    """best_gap of the outcomes these patterns fold, their flags in the order of `first` then
    `second` (the same resamples)."""
    if not first or not second:
        raise ValueError("each side needs at least one model")
    models = [*first, *second]
    n = patterns.size
    if n == 0:
        raise ValueError("no shared instances")
    side_a = list(range(len(first)))
    side_b = list(range(len(first), len(models)))
    point = patterns.right()
    best_a, best_b = _best_index(point, side_a), _best_index(point, side_b)
    diffs = []
    kept_a = kept_b = 0
    for counts in bootstrap_pattern_counts(patterns, n_resamples, seed):
        top_a = max(counts[j] for j in side_a)
        top_b = max(counts[j] for j in side_b)
        kept_a += counts[best_a] == top_a
        kept_b += counts[best_b] == top_b
        diffs.append((top_a - top_b) / n)
    diffs.sort()
    ci90 = (percentile(diffs, 0.05), percentile(diffs, 0.95))
    ci95 = (percentile(diffs, 0.025), percentile(diffs, 0.975))
    return (
        (point[best_a] - point[best_b]) / n,
        Best(models[best_a], point[best_a] / n, kept_a / n_resamples),
        Best(models[best_b], point[best_b] / n, kept_b / n_resamples),
        ci90,
        ci95,
    )


@dataclass(frozen=True)
class _Setting:
    first: str
    second: str
    margin: float
    n_resamples: int
    seed: int


def _gap_row(
    task: str,
    shared: SharedOutcomes,
    compared: tuple[Sequence[str], Sequence[str]],
    setting: _Setting,
    as_of: dt.date | None = None,
) -> OriginGap:
    """One row: the gap between the best of each side of `compared`, or a note saying why
    there is none."""
    from gapbench.stats.equivalence import classify

    first, second = setting.first, setting.second
    first_models, second_models = compared
    n_shared = shared.size
    row = OriginGap(
        task=task,
        first=first,
        second=second,
        n_shared=n_shared,
        compared={first: tuple(first_models), second: tuple(second_models)},
        as_of=as_of,
    )
    missing = [origin for origin, ms in zip((first, second), compared, strict=True) if not ms]
    if missing:
        when = f" released by {as_of.isoformat()}" if as_of else " with results here"
        return replace(row, note=f"no {' or '.join(missing)} model{when}")
    if n_shared == 0:
        return replace(row, note="no instance answered by every compared model")
    diff, best_a, best_b, ci90, ci95 = best_gap_of_patterns(
        shared.folded([*first_models, *second_models]),
        first_models,
        second_models,
        setting.n_resamples,
        setting.seed,
    )
    return replace(
        row,
        best={first: best_a, second: best_b},
        diff=diff,
        ci90=ci90,
        ci95=ci95,
        kind=classify(diff, ci90, ci95, setting.margin),
    )


SharedFor = Callable[[str | None, Sequence[str]], SharedOutcomes]
"""(task, models) -> the models' outcomes on the instances all of them answered, on that task or,
for None, on every selected task: how a caller hands its data to `gaps_from`."""


def origin_gaps(
    samples: Iterable[SampleRecord],
    origins: Mapping[str, ModelOrigin],
    margin: float,
    first: str = FIRST_ORIGIN,
    second: str = SECOND_ORIGIN,
    n_resamples: int = GAP_RESAMPLES,
    seed: int = 0,
) -> GapReport:
    """The gap between the best `first` and the best `second` model on each task of `samples`,
    on all of them pooled, and as of each release date of the compared models."""
    samples = list(samples)
    answered: dict[str, set[str]] = {}
    for s in samples:
        if s.error is None and s.key.draw == 0 and s.prompt_variant == 0:
            answered.setdefault(s.key.task, set()).add(s.key.model_id)

    def shared_for(task: str | None, models: Sequence[str]) -> SharedOutcomes:
        chosen = samples if task is None else [s for s in samples if s.key.task == task]
        return shared_outcomes(chosen, models)

    return gaps_from(answered, shared_for, origins, margin, first, second, n_resamples, seed)


def gaps_from(
    answered: Mapping[str, set[str]],
    shared_for: SharedFor,
    origins: Mapping[str, ModelOrigin],
    margin: float,
    first: str = FIRST_ORIGIN,
    second: str = SECOND_ORIGIN,
    n_resamples: int = GAP_RESAMPLES,
    seed: int = 0,
) -> GapReport:
    """origin_gaps from `answered` (task -> models with an answer there, draw 0, first phrasing)
    and `shared_for`, whatever holds the samples (loaded records here, SQL in report/)."""
    setting = _Setting(first, second, margin, n_resamples, seed)
    of_first = sorted(m for m, o in origins.items() if o.origin == first)
    of_second = sorted(m for m, o in origins.items() if o.origin == second)

    tasks = []
    for task in sorted(answered):
        a = [m for m in of_first if m in answered[task]]
        b = [m for m in of_second if m in answered[task]]
        shared = shared_for(task, [*a, *b])
        tasks.append(_gap_row(task, shared, (a, b), setting))

    shared = shared_for(None, [*of_first, *of_second])
    overall = _gap_row(OVERALL, shared, (of_first, of_second), setting)
    dates = sorted({o.released for m, o in origins.items() if m in shared.models and o.released})
    # A date by which the overall row's models were all released has the overall row's gap (the
    # same columns and resamples): reuse it instead of bootstrapping again.
    done = {(tuple(of_first), tuple(of_second)): overall}
    timeline = []
    for date in dates:

        def released(model: str, date: dt.date = date) -> bool:
            day = origins[model].released
            return day is not None and day <= date

        a = [m for m in of_first if released(m)]
        b = [m for m in of_second if released(m)]
        row = done.get((tuple(a), tuple(b)))
        if row is None or row.diff is None:  # a row without a gap is cheap, and its note dated
            row = _gap_row(OVERALL, shared, (a, b), setting, date)
            done[(tuple(a), tuple(b))] = row
        timeline.append(replace(row, as_of=date))
    return GapReport(
        first=first,
        second=second,
        margin=margin,
        n_resamples=n_resamples,
        tasks=tasks,
        overall=overall,
        timeline=timeline,
        models=dict(sorted(origins.items())),
    )
