"""The scheduler's pure parts: the union of request spans a run is charged, and chunk sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gapbench.scheduler import chunk_size, covered_seconds

spans = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 20)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=30,
)


@given(spans)
def test_covered_seconds_is_the_measure_of_the_union(intervals: list[tuple[int, int]]) -> None:
    """Checked on integer endpoints by counting the unit cells that some interval covers."""
    cells = {c for start, end in intervals for c in range(start, end)}
    assert covered_seconds([(float(a), float(b)) for a, b in intervals]) == len(cells)


def test_covered_seconds_counts_overlap_once() -> None:
    # Four requests of 2 s in a batch, staggered by 0.1 s: 2.3 s of wall time, not 8.
    assert covered_seconds([(i / 10, i / 10 + 2) for i in range(4)]) == pytest.approx(2.3)
    assert covered_seconds([]) == 0.0


def test_chunks_are_small_for_sequential_backends_and_many_batches_for_batching_ones() -> None:
    assert chunk_size(1) == 8
    assert chunk_size(8) == 256 and chunk_size(32) == 1024
