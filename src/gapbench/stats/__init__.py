"""Stats: how sure are we? Intervals for one model's accuracy and paired verdicts between two.

Standard library only (no numpy/scipy at runtime), so importing this stays cheap.
"""

from gapbench.stats.intervals import wilson_interval
from gapbench.stats.paired import (
    PairedComparison,
    compare_paired,
    format_p,
    format_pts,
    holm_adjust,
    mcnemar_exact,
    paired_bootstrap_ci,
)

__all__ = [
    "PairedComparison",
    "compare_paired",
    "format_p",
    "format_pts",
    "holm_adjust",
    "mcnemar_exact",
    "paired_bootstrap_ci",
    "wilson_interval",
]
