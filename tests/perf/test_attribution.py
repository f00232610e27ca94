"""Each sample is charged its own time: a run's wall time is spread over every generation it
made, not only over those the store kept, on real SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gapbench.backends.registry import billing_of
from gapbench.perf.attribution import Accounting, account_runs
from gapbench.store import RunInfo, RunMeasures, SampleKey, SampleRecord, Store


def info() -> RunInfo:
    return RunInfo(
        gapbench_version="0", model_id="m", backend="llamacpp", engine_version="x",
        sampling={}, settings_hash="h",
    )  # fmt: skip


def sample(run_id: int, index: int, latency: float, error: str | None = None) -> SampleRecord:
    return SampleRecord(
        key=SampleKey("m", "arith", "1", 0, index, "easy", "h"), run_id=run_id, prompt="p",
        output="o", extracted="1", extraction_ok=error is None, correct=error is None,
        reference="1", prompt_tokens=1, completion_tokens=10, finish_reason="stop",
        latency_s=latency, error=error,
    )  # fmt: skip


def test_a_retried_failure_does_not_inflate_the_first_runs_kept_samples(tmp_path: Path) -> None:
    """Run 1 generates four samples in 4 s, two of which fail; run 2 retries those two (their
    rows now belong to it). Run 1's two kept samples cost 1 s each, not 2 s."""
    with Store.open(tmp_path / "a.db") as store:
        first = store.start_run(info())
        for i in range(4):
            store.add_sample(sample(first, i, 1.0, error="timeout" if i >= 2 else None))
        store.finish_run(
            first, "failed", RunMeasures(4.0, None, latency_seconds=4.0, generations=4)
        )
        second = store.start_run(info())
        for i in (2, 3):
            store.add_sample(sample(second, i, 1.5))
        store.finish_run(
            second, "completed", RunMeasures(3.0, None, latency_seconds=3.0, generations=2)
        )
        runs, totals, kept = store.runs(), store.run_latency_totals(), store.samples()
    assert totals == {first: 2.0, second: 3.0}
    acct = Accounting(runs=account_runs(runs, totals, billing_of))
    assert [acct.wall_seconds(s) for s in kept] == pytest.approx([1.0, 1.0, 1.5, 1.5])


def test_runs_of_older_versions_fall_back_to_their_kept_samples(tmp_path: Path) -> None:
    with Store.open(tmp_path / "b.db") as store:
        run = store.start_run(info())
        store.add_sample(sample(run, 0, 2.0))
        store.add_sample(sample(run, 1, 2.0))
        store.finish_run(run, "completed", RunMeasures(2.5, None))  # batch of two: overlap
        runs, totals, kept = store.runs(), store.run_latency_totals(), store.samples()
    acct = Accounting(runs=account_runs(runs, totals, billing_of))
    assert sum(acct.wall_seconds(s) for s in kept) == pytest.approx(2.5)
