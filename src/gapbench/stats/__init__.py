"""Stats: how sure are we? Intervals for one model's accuracy, pass@k when an instance is drawn
several times, and paired verdicts between two models.

Standard library only (no numpy/scipy at runtime), so importing this stays cheap.
"""

from gapbench.stats.intervals import clopper_pearson, clustered_pass_interval, wilson_interval
from gapbench.stats.paired import (
    PairedComparison,
    compare_paired,
    format_p,
    format_pts,
    holm_adjust,
    mcnemar_exact,
    paired_bootstrap_ci,
)
from gapbench.stats.passk import mean_pass_at_k, pass_at_k, supported_ks

__all__ = [
    "PairedComparison",
    "clopper_pearson",
    "clustered_pass_interval",
    "compare_paired",
    "format_p",
    "format_pts",
    "holm_adjust",
    "mcnemar_exact",
    "mean_pass_at_k",
    "paired_bootstrap_ci",
    "pass_at_k",
    "supported_ks",
    "wilson_interval",
]
