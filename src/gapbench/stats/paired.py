"""The paired verdict between two models run on the same instances, in one of four kinds
(stats/equivalence.py): A has caught up with B within a margin, A is ahead, A is behind, or it
cannot yet tell, with about how many more instances would settle it.

A lead needs both the paired bootstrap interval (pairtests.py) to exclude 0 and McNemar's exact
test to reject; being caught up needs the score TOST (equivalence.py). When several pairs are
reported together both p-values are Holm-adjusted over the pairs (holm_verdicts).

Standard library only, so the default install stays light; tests check every number against scipy,
statsmodels or numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from gapbench.stats.equivalence import (
    DEFAULT_MARGIN,
    EQUIVALENCE_CONFIDENCE,
    TOST_ALPHA,
    Kind,
    check_margin,
    classify,
    more_instances,
    tost,
)
from gapbench.stats.intervals import check_confidence
from gapbench.stats.pairtests import (
    EXACT_INTEGER_LIMIT,
    _binomial_inverse_cdf_table,
    _two_sided_half_binomial_exact,
    _two_sided_half_binomial_logspace,
    count_pairs,
    mcnemar_exact,
    paired_bootstrap_ci,
    percentile,
)

__all__ = [
    "EXACT_INTEGER_LIMIT",
    "PairedComparison",
    "_binomial_inverse_cdf_table",
    "_two_sided_half_binomial_exact",
    "_two_sided_half_binomial_logspace",
    "compare_paired",
    "format_p",
    "format_pts",
    "holm_adjust",
    "holm_verdicts",
    "mcnemar_exact",
    "paired_bootstrap_ci",
    "percentile",
]


# --- formatting --------------------------------------------------------------------------------


def format_p(p: float) -> str:
    """A p-value for humans: 'p<0.001' below 0.001, otherwise two significant digits ('p=0.012',
    'p=0.63', 'p=0.050', 'p=1.0'); two digits are all the precision a p-value deserves."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be between 0 and 1, got {p!r}")
    if p < 0.001:
        return "p<0.001"
    return f"p={p:#.2g}"


def format_pts(fraction: float) -> str:
    """A difference of fractions as signed percentage points with one decimal: 0.317 -> '+31.7'.

    The sign is always explicit, and a value that rounds to zero is '+0.0', never '-0.0'.
    """
    points = round(fraction * 100.0, 1)
    if points == 0.0:
        points = 0.0  # folds -0.0 into +0.0
    return f"{points:+.1f}"


def _format_confidence(confidence: float) -> str:
    return f"{confidence * 100.0:g}%"


# --- many comparisons --------------------------------------------------------------------------


def holm_adjust(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    Comparing every pair of k models runs k(k-1)/2 tests; rejecting where the adjusted p < alpha
    keeps the chance of any false "leads" verdict at most alpha. The i-th smallest p is multiplied
    by (m - i + 1), capped at 1, and made non-decreasing in rank (step-down).
    """
    for p in pvalues:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p-values must be between 0 and 1, got {p!r}")
    m = len(pvalues)
    adjusted = [0.0] * m
    running_max = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running_max = max(running_max, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running_max
    return adjusted


# --- the verdict -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedComparison:
    """Model A against model B on the instances both were scored on. Fractions, not points."""

    model_a: str
    model_b: str
    n_paired: int
    """Instances both models answered (same task, version, seed, index)."""
    accuracy_a: float
    accuracy_b: float
    diff: float
    """accuracy_a - accuracy_b, a fraction in [-1, 1]."""
    ci_low: float
    ci_high: float
    """Paired bootstrap interval for diff, at `confidence` (95% by default)."""
    p_value: float
    """Exact McNemar p-value (1.0 when there are no discordant pairs or no pairs)."""
    significant: bool
    """A lead: McNemar's p (Holm-adjusted, with several pairs) below alpha and the interval
    excluding 0; the same as kind being 'ahead' or 'behind'."""
    verdict: str
    """One line for humans, e.g. 'A leads B by +31.7 pts (95% CI +22.1..+41.0, p<0.001, n=60)'."""
    phrasing_gaps: Mapping[str, float] = field(default_factory=dict)
    """accuracy_a - accuracy_b under each prompt phrasing (--prompt-variants), when there were
    several; the verdict itself is taken on the first phrasing."""
    kind: Kind = "inconclusive"
    """'ahead', 'behind', 'equivalent' (caught up within ±margin) or 'inconclusive', from A's
    side."""
    margin: float = DEFAULT_MARGIN
    """The equivalence margin, a fraction (0.05 is 5 points)."""
    eq_low: float = -1.0
    eq_high: float = 1.0
    """90% score interval for diff (Tango 1998): 'equivalent' when it lies inside ±margin."""
    equivalence_p: float = 1.0
    """The TOST p-value of |diff| < margin (the larger of the two one-sided ones)."""
    only_a: int = 0
    only_b: int = 0
    """Discordant pairs: instances only A, or only B, got right."""
    more_instances: int | None = None
    """For an inconclusive verdict: about how many more paired instances would settle it (80%
    power if the gap and the disagreement rate stay as observed)."""
    pairs: int = 1
    """How many pairs the p-values were Holm-adjusted over (1: this pair alone)."""
    p_adjusted: float | None = None
    equivalence_p_adjusted: float | None = None
    """The two p-values after Holm's adjustment over `pairs` (None when alone)."""
    alpha: float = 0.05
    confidence: float = 0.95

    def with_phrasing_gaps(self, gaps: Mapping[str, float]) -> PairedComparison:
        """This comparison, its verdict extended by how the gap moves across phrasings."""
        return _settled(replace(self, phrasing_gaps=dict(gaps)))

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready values; diff and the intervals stay fractions."""
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "kind": self.kind,
            "verdict": self.verdict,
            "n_paired": self.n_paired,
            "diff": self.diff,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "p_value": self.p_value,
            "margin": self.margin,
            "ci90_low": self.eq_low,
            "ci90_high": self.eq_high,
            "equivalence_p": self.equivalence_p,
            "holm_pairs": self.pairs,
            "p_value_holm": self.p_adjusted,
            "equivalence_p_holm": self.equivalence_p_adjusted,
            "more_instances": self.more_instances,
            "only_a": self.only_a,
            "only_b": self.only_b,
            "accuracy_a": self.accuracy_a,
            "accuracy_b": self.accuracy_b,
            "significant": self.significant,
            "phrasing_gaps": dict(self.phrasing_gaps),
        }


def compare_paired(
    model_a: str,
    model_b: str,
    a: Sequence[bool],
    b: Sequence[bool],
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    margin: float = DEFAULT_MARGIN,
) -> PairedComparison:
    """Compare two models' per-instance correctness, aligned so that a[i] and b[i] are the same
    instance, and phrase the result as one of the four kinds (see the module docstring)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    check_confidence(confidence)
    check_margin(margin)
    n, only_a, only_b = count_pairs(a, b)
    base = PairedComparison(
        model_a=model_a,
        model_b=model_b,
        n_paired=n,
        accuracy_a=0.0,
        accuracy_b=0.0,
        diff=0.0,
        ci_low=0.0,
        ci_high=0.0,
        p_value=1.0,
        significant=False,
        verdict="",
        margin=margin,
        alpha=alpha,
        confidence=confidence,
    )
    if n == 0:
        return _settled(base)
    correct_a = sum(1 for x in a if x)
    correct_b = sum(1 for y in b if y)
    ci_low, ci_high = paired_bootstrap_ci(a, b, confidence, n_resamples, seed)
    equivalence = tost(n, only_a, only_b, margin)
    return _settled(
        replace(
            base,
            accuracy_a=correct_a / n,
            accuracy_b=correct_b / n,
            diff=(correct_a - correct_b) / n,
            ci_low=ci_low,
            ci_high=ci_high,
            p_value=mcnemar_exact(only_a, only_b),
            eq_low=equivalence.low,
            eq_high=equivalence.high,
            equivalence_p=equivalence.p_value,
            only_a=only_a,
            only_b=only_b,
        )
    )


def holm_verdicts(comparisons: Sequence[PairedComparison]) -> list[PairedComparison]:
    """The comparisons reported together, with McNemar's and the TOST p-values each Holm-adjusted
    over the pairs that have paired instances, so that the chance of any false lead, and of any
    false 'caught up', stays at most alpha; kinds and verdicts follow the adjusted values."""
    live = [i for i, c in enumerate(comparisons) if c.n_paired]
    result = list(comparisons)
    if len(live) < 2:
        return result
    leads = holm_adjust([comparisons[i].p_value for i in live])
    levels = holm_adjust([comparisons[i].equivalence_p for i in live])
    for i, lead, level in zip(live, leads, levels, strict=True):
        adjusted = replace(
            comparisons[i], pairs=len(live), p_adjusted=lead, equivalence_p_adjusted=level
        )
        result[i] = _settled(adjusted)
    return result


def _settled(c: PairedComparison) -> PairedComparison:
    """The comparison with its kind, lead flag, estimate of instances to go, and sentence set
    from its numbers."""
    if c.n_paired == 0:
        return replace(
            c,
            kind="inconclusive",
            significant=False,
            verdict=(
                f"no paired instances between {c.model_a} and {c.model_b}: "
                "run both on the same tasks and seed"
            ),
        )
    lead_p = c.p_value if c.p_adjusted is None else c.p_adjusted
    level_p = c.equivalence_p if c.equivalence_p_adjusted is None else c.equivalence_p_adjusted
    kind = classify(c.diff, (c.eq_low, c.eq_high), (c.ci_low, c.ci_high), c.margin)
    leads = c.ci_low > 0.0 or c.ci_high < 0.0
    if kind == "equivalent" and level_p >= TOST_ALPHA:
        kind = "inconclusive"  # inside the margin, but not once adjusted for the other pairs
    if kind == "inconclusive" and leads and lead_p < c.alpha:
        kind = "ahead" if c.ci_low > 0.0 else "behind"
    if kind in ("ahead", "behind") and lead_p >= c.alpha:
        kind = "inconclusive"  # the interval excludes 0 but McNemar's test does not agree
    more = None
    if kind == "inconclusive":
        more = more_instances(c.n_paired, c.only_a, c.only_b, c.margin, c.alpha)
    settled = replace(c, kind=kind, significant=kind in ("ahead", "behind"), more_instances=more)
    return replace(settled, verdict=_sentence(settled, lead_p, level_p, leads))


def _sentence(c: PairedComparison, lead_p: float, level_p: float, leads: bool) -> str:
    a, b, n = c.model_a, c.model_b, c.n_paired
    level = _format_confidence(c.confidence)
    eq_level = _format_confidence(EQUIVALENCE_CONFIDENCE)
    holm = f" Holm-adjusted over {c.pairs} pairs" if c.pairs > 1 else ""
    p_text = f"{format_p(lead_p)}{holm}"
    eq_ci = f"{eq_level} CI {format_pts(c.eq_low)}..{format_pts(c.eq_high)}"
    margin = f"{100 * c.margin:.1f}"
    if c.diff >= 0:
        leader, trailer, gap, low, high = a, b, c.diff, c.ci_low, c.ci_high
    else:
        leader, trailer, gap, low, high = b, a, -c.diff, -c.ci_high, -c.ci_low
    lead_ci = f"{level} CI {format_pts(low)}..{format_pts(high)}"
    if c.kind == "equivalent":
        sentence = (
            f"{a} has caught up with {b}: the gap is within ±{margin} pts "
            f"({a} - {b} = {format_pts(c.diff)} pts, {eq_ci}, n={n}"
            + (f", equivalence {format_p(level_p)}{holm}" if holm else "")
            + ")"
        )
        if leads and lead_p < c.alpha:
            sentence += (
                f", though {leader} still leads by a small but real {format_pts(gap)} pts "
                f"({lead_ci}, {p_text})"
            )
    elif c.kind in ("ahead", "behind"):
        sentence = f"{leader} leads {trailer} by {format_pts(gap)} pts ({lead_ci}, {p_text}, n={n})"
    else:
        inside = -c.margin < c.eq_low and c.eq_high < c.margin
        sentence = (
            f"cannot yet tell whether the gap between {a} and {b} is under {margin} pts: "
            f"{a} - {b} = {format_pts(c.diff)} pts ({eq_ci}, {p_text}"
            + (f", equivalence {format_p(level_p)}{holm}" if inside and holm else "")
            + f", n={n}); about {c.more_instances:,} more paired instances would settle it"
        )
    if c.phrasing_gaps:
        gaps = c.phrasing_gaps.values()
        low_gap, high_gap = min(gaps), max(gaps)
        sentence += (
            f"; across {len(c.phrasing_gaps)} phrasings of the prompt the gap runs "
            f"{100 * low_gap:+.1f}..{100 * high_gap:+.1f} pts"
            + (", so its sign depends on the wording" if low_gap < 0 < high_gap else "")
        )
    return sentence
