"""Timing metrics: TPOT as vLLM defines it, percentiles as numpy computes them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gapbench.perf.timing import distribution, percentile, request_metrics


def test_tpot_excludes_the_first_token() -> None:
    # 11 tokens: first after 0.5 s, the other 10 over the next 1.0 s.
    m = request_metrics(latency_s=1.5, ttft_s=0.5, output_tokens=11)
    assert m.tpot_s == pytest.approx(0.1)
    assert m.output_tokens_per_s == pytest.approx(11 / 1.5)


def test_tpot_undefined_for_a_single_token_or_no_ttft() -> None:
    assert request_metrics(0.4, 0.4, 1).tpot_s is None
    assert request_metrics(1.0, None, 10).tpot_s is None
    assert request_metrics(0.0, None, 0).output_tokens_per_s is None


@given(
    st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=200),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(
        float(np.percentile(values, q)), rel=1e-9, abs=1e-9
    )


def test_distribution_of_nothing_is_empty() -> None:
    d = distribution([])
    assert (d.p50, d.p90, d.p99) == (None, None, None)


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)
