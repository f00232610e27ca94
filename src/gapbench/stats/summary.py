"""From stored samples to leaderboard rows and paired outcomes: pure functions, no printing.

An instance is (task, task version, seed, index, difficulty). When every instance of a row was
answered once, accuracy is the share of right answers with a Wilson interval. When some instance
was answered several times (several draws for pass@k, or several stored settings), its answers
are not independent samples: accuracy is then the mean over instances of each instance's share of
right answers (pass@1), its interval is clustered by instance (Korn and Graubard's, which keeps
honest width when every draw is wrong or right; see stats/intervals.py), and pass@k is reported.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from gapbench.perf.attribution import Accounting
from gapbench.perf.cost import pareto_frontier
from gapbench.perf.timing import distribution, percentile, request_metrics
from gapbench.stats.intervals import clustered_pass_interval, wilson_interval
from gapbench.stats.passk import mean_pass_at_k
from gapbench.store.records import SampleRecord

if TYPE_CHECKING:
    from gapbench.stats.paired import PairedComparison
    from gapbench.stats.ranking import SharedOutcomes

OVERALL = "overall"
"""Task name of the row that pools all of a model's tasks."""

InstanceId = tuple[str, str, int, int, str]
"""(task, task version, seed, index, difficulty): what a model was asked, whatever the draw."""


def instance_id(sample: SampleRecord) -> InstanceId:
    k = sample.key
    return (k.task, k.task_version, k.seed, k.index, k.difficulty)


@dataclass(frozen=True)
class ScoreRow:
    """Accuracy, speed and cost of one model on one task (or OVERALL)."""

    model: str
    task: str
    n: int
    """Answered samples: generations that completed, whether right, wrong or unparseable."""
    planned: int
    """Samples the row should have: what the run planned when it is known (results printed after
    `gapbench run`), else the stored ones, answered or failed. Fewer answered than planned means
    the score covers only part of the test."""
    instances: int
    """Distinct instances with at least one answered sample."""
    draws_per_instance: int
    """The most answered samples of any one instance (0 when none was answered)."""
    correct: int
    accuracy: float
    """Right share of answered samples; with several draws per instance, the mean over instances
    of each one's right share (pass@1), so that every instance weighs the same."""
    ci_low: float
    ci_high: float
    """95% interval for accuracy: Wilson with one draw per instance, else clustered by instance
    (see stats/intervals.py)."""
    extraction_failures: int
    extraction_failure_rate: float
    """Share of answered samples where no answer could be read: a harness-visible failure."""
    failed: int
    """Samples whose generation failed (stored, retried on rerun, not counted in n)."""
    completion_tokens: int
    tokens_per_s: float | None
    """Aggregate output tokens per second of generation wall time (see perf/attribution.py)."""
    p50_latency_s: float | None
    p90_latency_s: float | None
    p99_latency_s: float | None
    p50_ttft_s: float | None
    p50_tpot_s: float | None
    """Median time per output token after the first."""
    cost_usd: float | None
    """What the answered samples cost; None when no price applies (e.g. an API without one)."""
    usd_per_correct: float | None
    usd_per_mtok: float | None
    """Dollars per million output tokens."""
    peak_rss_mb: float | None
    """Peak resident memory while the model ran (OVERALL rows; None on task rows)."""
    reasoning_tokens: int | None
    """Reasoning tokens the API reported (None when it reported none): accuracy per reasoning
    token is the figure that compares reasoning models fairly."""
    retries: int
    """HTTP requests retried (429, 5xx, timeouts...) over all samples, failed ones included."""
    pass_at_k: dict[int, float]
    """Mean unbiased pass@k by k, for the ks every instance has draws enough for (see
    stats/passk.py); empty with one draw per instance."""
    no_answer_reasons: dict[str, int] = field(default_factory=dict)
    """Why outputs held no answer, by the reader's account ('repetition-loop',
    'truncated-no-answer', 'echoed-prompt', 'none', ...); samples stored before the reason was
    kept count as 'unknown'."""
    phrasings: dict[str, float] = field(default_factory=dict)
    """Accuracy under each prompt phrasing the row's samples were asked in ('chat-reasoning',
    'chat-reasoning-v1', ...), when there are several: over the instances each answered."""
    unsafe_sandbox: int = 0
    """Answered samples scored by a run without the code sandbox (--unsafe-sandbox)."""
    pareto: bool = False
    """On the quality-vs-cost frontier among the models shown (OVERALL rows only)."""
    rank: int | None = None
    """Rank among the models shown by accuracy on the instances all of them answered (OVERALL
    rows, with two models or more; ties share the better rank); see stats/ranking.py."""
    rank_low: int | None = None
    rank_high: int | None = None
    """95% paired bootstrap interval of the rank (e.g. 1 and 2)."""
    rank_instances: int | None = None
    """Instances all models shown answered (draw 0, first phrasing): what ranks are taken on."""

    @property
    def rank_interval(self) -> str | None:
        """'1' or '1-2'; None without a rank."""
        if self.rank_low is None or self.rank_high is None:
            return None
        low, high = self.rank_low, self.rank_high
        return str(low) if low == high else f"{low}-{high}"

    @property
    def phrasing_spread(self) -> float | None:
        """Highest minus lowest accuracy across phrasings; None with a single phrasing."""
        if len(self.phrasings) < 2:
            return None
        return max(self.phrasings.values()) - min(self.phrasings.values())

    @property
    def unanswered(self) -> int:
        """Planned samples without an answer: failed, or never generated."""
        return max(0, self.planned - self.n)

    def as_dict(self) -> dict[str, object]:
        # 'answered' spells out what n counts, beside 'planned' and 'failed'.
        return {
            **asdict(self),
            "answered": self.n,
            "phrasing_spread": self.phrasing_spread,
            "rank_interval": self.rank_interval,
        }


@dataclass(frozen=True)
class _Accuracy:
    accuracy: float
    ci_low: float
    ci_high: float
    instances: int
    draws_per_instance: int
    pass_at_k: dict[int, float]


def _accuracy(answered: Sequence[SampleRecord]) -> _Accuracy:
    """Accuracy and its interval, treating the draws of one instance as one cluster."""
    by_instance: dict[InstanceId, list[bool]] = defaultdict(list)
    for s in answered:
        by_instance[instance_id(s)].append(s.correct)
    draws = max((len(v) for v in by_instance.values()), default=0)
    if draws <= 1:
        n = len(answered)
        correct = sum(s.correct for s in answered)
        low, high = wilson_interval(correct, n)
        return _Accuracy(correct / n if n else 0.0, low, high, len(by_instance), draws, {})
    means = [sum(v) / len(v) for v in by_instance.values()]
    counts = [(len(v), sum(v)) for v in by_instance.values()]
    low, high = clustered_pass_interval(counts)
    return _Accuracy(
        accuracy=math.fsum(means) / len(means),
        ci_low=low,
        ci_high=high,
        instances=len(by_instance),
        draws_per_instance=draws,
        # pass@k is defined over draws; an instance answered under two settings is not two draws.
        pass_at_k=mean_pass_at_k(counts) if any(s.key.draw for s in answered) else {},
    )


def _row(
    model: str,
    task: str,
    samples: Sequence[SampleRecord],
    acct: Accounting,
    planned: int | None = None,
) -> ScoreRow:
    answered = [s for s in samples if s.error is None]
    n = len(answered)
    correct = sum(s.correct for s in answered)
    acc = _accuracy(answered)
    no_answer = sum(not s.extraction_ok for s in answered)
    tokens = sum(s.completion_tokens for s in answered)
    wall = sum(acct.wall_seconds(s) for s in answered)
    costs = [acct.cost_usd(s) for s in answered]
    cost = None if not costs or any(c is None for c in costs) else sum(c for c in costs if c)
    latency = distribution([s.latency_s for s in answered])
    metrics = [request_metrics(s.latency_s, s.ttft_s, s.completion_tokens) for s in answered]
    return ScoreRow(
        model=model,
        task=task,
        n=n,
        planned=len(samples) if planned is None else planned,
        instances=acc.instances,
        draws_per_instance=acc.draws_per_instance,
        correct=correct,
        accuracy=acc.accuracy,
        ci_low=acc.ci_low,
        ci_high=acc.ci_high,
        extraction_failures=no_answer,
        extraction_failure_rate=no_answer / n if n else 0.0,
        failed=len(samples) - n,
        completion_tokens=tokens,
        tokens_per_s=tokens / wall if wall > 0 else None,
        p50_latency_s=latency.p50,
        p90_latency_s=latency.p90,
        p99_latency_s=latency.p99,
        p50_ttft_s=percentile([m.ttft_s for m in metrics if m.ttft_s is not None], 50),
        p50_tpot_s=percentile([m.tpot_s for m in metrics if m.tpot_s is not None], 50),
        cost_usd=cost,
        usd_per_correct=cost / correct if cost is not None and correct else None,
        usd_per_mtok=cost / tokens * 1e6 if cost is not None and tokens else None,
        peak_rss_mb=acct.peak_rss_mb(model) if task == OVERALL else None,
        reasoning_tokens=_sum_known([s.reasoning_tokens for s in answered]),
        retries=sum(s.retries for s in samples),
        pass_at_k=acc.pass_at_k,
        no_answer_reasons=dict(
            Counter(s.score_method or "unknown" for s in answered if not s.extraction_ok)
        ),
        phrasings=_phrasings(answered),
        unsafe_sandbox=sum(acct.unsafe_sandbox(s) for s in answered),
    )


def phrasing(sample: SampleRecord) -> str:
    """The prompt phrasing a sample was asked in: its style key, which names the variant."""
    return sample.prompt_style or "unknown"


def _phrasings(answered: Sequence[SampleRecord]) -> dict[str, float]:
    """Accuracy per phrasing, when the samples were asked in more than one; each phrasing's
    accuracy is the mean over its instances, so draws weigh as in the row's own accuracy."""
    by_phrasing: dict[str, list[SampleRecord]] = defaultdict(list)
    for s in answered:
        by_phrasing[phrasing(s)].append(s)
    if len(by_phrasing) < 2:
        return {}
    return {name: _accuracy(group).accuracy for name, group in sorted(by_phrasing.items())}


def _sum_known(values: Sequence[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def current_versions(
    samples: Sequence[SampleRecord], versions: Mapping[str, str]
) -> tuple[list[SampleRecord], int]:
    """The samples of each task's current version, and how many older-version samples were left
    out. A new version generates or scores differently, so pooling it with the old one would mix
    two different tests; tasks missing from `versions` (not installed here) are kept whole."""

    def current(s: SampleRecord) -> bool:
        return versions.get(s.key.task, s.key.task_version) == s.key.task_version

    kept = [s for s in samples if current(s)]
    return kept, len(samples) - len(kept)


def summarize(
    samples: Iterable[SampleRecord],
    accounting: Accounting | None = None,
    planned: Mapping[tuple[str, str], int] | None = None,
) -> list[ScoreRow]:
    """One row per (model, task) plus an OVERALL row per model pooling its tasks; models ordered by
    overall accuracy, best first, tasks alphabetically after the overall row. OVERALL rows mark
    the models on the accuracy-vs-cost-per-sample Pareto frontier.

    `planned` gives the samples planned per (model, task), when known: a planned model or task
    with no sample stored at all still gets its row (answered 0), so a run that answered nothing
    is not silently missing from its results.

    OVERALL rows carry each model's rank with its 95% bootstrap interval, over the instances all
    the models answered, resampled jointly (stats/ranking.py)."""
    samples = list(samples)
    acct = accounting or Accounting()
    grouped: dict[str, dict[str, list[SampleRecord]]] = defaultdict(lambda: defaultdict(list))
    for model, task in planned or {}:
        grouped[model].setdefault(task, [])
    for sample in samples:
        grouped[sample.key.model_id][sample.key.task].append(sample)
    plan = dict(planned or {})
    blocks: list[list[ScoreRow]] = []
    for model, by_task in grouped.items():
        rows = [
            _row(model, task, by_task[task], acct, plan.get((model, task)))
            for task in sorted(by_task)
        ]
        pooled = [s for task_samples in by_task.values() for s in task_samples]
        overall = sum(row.planned for row in rows)
        blocks.append([_row(model, OVERALL, pooled, acct, overall), *rows])
    blocks.sort(key=lambda block: (-block[0].accuracy, block[0].model))
    frontier = pareto_frontier([p for p in (_quality_and_cost(b[0]) for b in blocks) if p])
    blocks = [[replace(b[0], pareto=b[0].model in frontier), *b[1:]] for b in blocks]
    blocks = _ranked(samples, blocks)
    return [row for block in blocks for row in block]


def _ranked(samples: Sequence[SampleRecord], blocks: list[list[ScoreRow]]) -> list[list[ScoreRow]]:
    from gapbench.stats.ranking import shared_outcomes

    return ranked_blocks(blocks, lambda models: shared_outcomes(samples, models))


def ranked_blocks(
    blocks: list[list[ScoreRow]], outcomes_of: Callable[[list[str]], SharedOutcomes]
) -> list[list[ScoreRow]]:
    """The blocks with rank intervals on the OVERALL rows of the models that answered something
    (none with fewer than two such models, or no instance they all answered); `outcomes_of`
    gives those models' outcomes on their shared instances, from loaded samples or from SQL
    (report/aggregate.py)."""
    from gapbench.stats.ranking import rank_intervals

    answered = [b[0].model for b in blocks if b[0].n > 0]
    ranks = rank_intervals(outcomes_of(answered))

    def ranked(row: ScoreRow) -> ScoreRow:
        r = ranks.get(row.model)
        if r is None:
            return row
        return replace(
            row, rank=r.rank, rank_low=r.low, rank_high=r.high, rank_instances=r.instances
        )

    return [[ranked(b[0]), *b[1:]] for b in blocks]


def _quality_and_cost(row: ScoreRow) -> tuple[str, float, float] | None:
    """(model, accuracy, dollars per answered sample), or None for a model without a price."""
    if row.cost_usd is None or row.n == 0:
        return None
    return row.model, row.accuracy, row.cost_usd / row.n


def paired_outcomes(
    samples: Iterable[SampleRecord], model_a: str, model_b: str, asked: str | None = None
) -> tuple[list[bool], list[bool]]:
    """Correctness of two models on the instances both answered, aligned pair by pair.

    An instance is (task, task version, seed, index, difficulty); if a model answered one several
    times under different settings, its latest answer counts. Only draw 0 of each instance is
    used, and only the first phrasing of --prompt-variants (or, with `asked`, that phrasing):
    McNemar's test and the paired bootstrap need exactly one pair per instance, and later draws
    or phrasings would count an instance several times as if it were several independent ones."""
    latest: dict[str, dict[InstanceId, SampleRecord]] = {model_a: {}, model_b: {}}
    for s in samples:
        if s.error is not None or s.key.draw != 0 or s.key.model_id not in latest:
            continue
        if (phrasing(s) != asked) if asked is not None else s.prompt_variant != 0:
            continue
        instance = instance_id(s)
        seen = latest[s.key.model_id].get(instance)
        if seen is None or s.created_at >= seen.created_at:
            latest[s.key.model_id][instance] = s
    shared = sorted(latest[model_a].keys() & latest[model_b].keys(), key=repr)
    return (
        [latest[model_a][i].correct for i in shared],
        [latest[model_b][i].correct for i in shared],
    )


def pairwise(
    samples: Sequence[SampleRecord], rows: Sequence[ScoreRow], margin: float | None = None
) -> list[PairedComparison]:
    """Paired comparisons of every pair of models, in leaderboard order (better model first),
    their p-values Holm-adjusted over the pairs reported together."""
    from gapbench.stats.paired import holm_verdicts

    ranked = [row.model for row in rows if row.task == OVERALL]
    return holm_verdicts(
        [
            compare_models(samples, model_a, model_b, margin)
            for i, model_a in enumerate(ranked)
            for model_b in ranked[i + 1 :]
        ]
    )


def compare_models(
    samples: Sequence[SampleRecord], model_a: str, model_b: str, margin: float | None = None
) -> PairedComparison:
    """The paired verdict of A against B (first draw and phrasing of every shared instance), with
    how the gap moves across phrasings when they were asked in several. `margin` is the
    equivalence margin as a fraction (None: stats/equivalence.py DEFAULT_MARGIN)."""
    from gapbench.stats.equivalence import DEFAULT_MARGIN
    from gapbench.stats.paired import compare_paired

    a, b = paired_outcomes(samples, model_a, model_b)
    chosen = DEFAULT_MARGIN if margin is None else margin
    comparison = compare_paired(model_a, model_b, a, b, margin=chosen)
    gaps = phrasing_gaps(samples, model_a, model_b)
    return comparison.with_phrasing_gaps(gaps) if gaps else comparison


def phrasing_gaps(samples: Sequence[SampleRecord], model_a: str, model_b: str) -> dict[str, float]:
    """A's accuracy minus B's under each phrasing both were asked in, on the instances both
    answered in it; empty unless there are several (a gap that flips sign between phrasings
    does not survive a rewording)."""
    asked = sorted(
        {phrasing(s) for s in samples if s.key.model_id == model_a}
        & {phrasing(s) for s in samples if s.key.model_id == model_b}
    )
    if len(asked) < 2:
        return {}
    gaps = {}
    for name in asked:
        a, b = paired_outcomes(samples, model_a, model_b, asked=name)
        if a:
            gaps[name] = (sum(a) - sum(b)) / len(a)
    return gaps if len(gaps) > 1 else {}
