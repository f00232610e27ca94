"""The runner's sample writer: each sample stored at once when samples come slowly, those that
wait written together when they come fast, and a failed write failing the run, never hidden.
Against real SQLite files (the PostgreSQL counterpart is in tests/store/test_postgres.py)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from tests.helpers import CliInvoke
from tests.store.test_repository import make_run, make_sample

from gapbench.errors import GapbenchError, StoreError
from gapbench.scheduler import SampleWriter
from gapbench.store import SampleRecord, Store


def stored(db: Path) -> int:
    with sqlite3.connect(db, timeout=5) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])


def spy_batches(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> list[int]:
    """Record the size of every batch the store writes (each write taking `delay` longer)."""
    sizes: list[int] = []
    original = Store.add_samples

    def add_samples(self: Store, recs: Sequence[SampleRecord]) -> int:
        sizes.append(len(recs))
        time.sleep(delay)
        return original(self, recs)

    monkeypatch.setattr(Store, "add_samples", add_samples)
    return sizes


def test_a_sample_is_stored_before_the_next_one_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a model's pace each sample is written on its own, while the writer stays open: a
    run killed while generating the next one has lost nothing it generated."""
    db = tmp_path / "w.db"
    sizes = spy_batches(monkeypatch)
    with Store.open(db) as store:
        run = store.start_run(make_run())
    with SampleWriter(str(db), 5.0) as writer:
        for i in range(3):
            writer.put(make_sample(run, i))
            deadline = time.monotonic() + 5
            while stored(db) < i + 1 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert stored(db) == i + 1
    assert sizes == [1, 1, 1] and writer.written == 3


def test_samples_that_wait_are_written_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.db"
    sizes = spy_batches(monkeypatch, delay=0.02)  # each write slower than handing samples over
    with Store.open(db) as store:
        run = store.start_run(make_run())
    n = 1000
    with SampleWriter(str(db), 5.0) as writer:
        for i in range(n):
            writer.put(make_sample(run, i))
    assert stored(db) == n and writer.written == n and sum(sizes) == n
    assert len(sizes) < n / 4, sizes  # far fewer transactions than samples
    assert max(sizes) <= SampleWriter.BATCH_LIMIT
    with Store.open(db, readonly=True) as store:
        assert sorted(s.key.index for s in store.samples()) == list(range(n))


def test_a_failed_write_is_raised_and_later_samples_are_not_taken_for_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.db"
    with Store.open(db) as store:
        run = store.start_run(make_run())
    original = Store.add_samples
    calls = 0

    def failing(self: Store, recs: Sequence[SampleRecord]) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise StoreError("the disk is full: free some space, then rerun to resume.")
        return original(self, recs)

    monkeypatch.setattr(Store, "add_samples", failing)
    # More samples than one batch holds (BATCH_LIMIT), so there is a second write to fail
    # however late the writer thread gets going on a loaded machine.
    n = SampleWriter.BATCH_LIMIT + 44
    with pytest.raises(StoreError, match="disk is full"), SampleWriter(str(db), 5.0) as writer:
        for i in range(n):
            writer.put(make_sample(run, i))
            time.sleep(0.001)
    assert 1 <= stored(db) <= SampleWriter.BATCH_LIMIT


def test_the_writer_writes_what_it_holds_when_the_run_stops_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or a backend failure in the middle: what was already generated is still stored."""
    db = tmp_path / "w.db"
    spy_batches(monkeypatch, delay=0.05)
    with Store.open(db) as store:
        run = store.start_run(make_run())
    with pytest.raises(KeyboardInterrupt), SampleWriter(str(db), 5.0) as writer:
        for i in range(50):
            writer.put(make_sample(run, i))
        raise KeyboardInterrupt
    assert stored(db) == 50


def test_a_database_the_writer_cannot_open_fails_at_once(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "w.db"
    with pytest.raises(GapbenchError, match="does not exist"), SampleWriter(str(missing), 5.0):
        pass
    assert not missing.exists()


def test_a_run_whose_samples_could_not_be_written_is_not_completed(
    cli: CliInvoke, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `gapbench run`: the write fails in the writer thread, the command says why with
    exit 1, and the run stays 'interrupted' with the samples written before the failure."""
    original = Store.add_samples
    calls = 0

    def failing(self: Store, recs: Sequence[SampleRecord]) -> int:
        # Only the run's one writer thread stores samples. A batch holds at most BATCH_LIMIT
        # (256) samples, so 400 take at least two writes however fast they come: failing the
        # second leaves 1..256 stored. (Failing only the fourth let a fast machine write all
        # 400 in three batches, and CI went red.)
        nonlocal calls
        calls += 1
        if calls > 1:
            raise StoreError(f"{self.location} is read-only now: fix it, then rerun.")
        return original(self, recs)

    monkeypatch.setattr(Store, "add_samples", failing)
    result = cli("run", "--model", "scripted:w?accuracy=0.5", "--task", "arith", "--n", "400",
                 "--db", str(db))  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "read-only now" in result.stderr and "Traceback" not in result.output
    monkeypatch.setattr(Store, "add_samples", original)
    with Store.open(db, readonly=True) as store:
        (row,) = store.runs()
        assert row.status == "interrupted"
        assert 0 < len(store.samples()) <= SampleWriter.BATCH_LIMIT
    rerun = cli("run", "--model", "scripted:w?accuracy=0.5", "--task", "arith", "--n", "400",
                "--db", str(db))  # fmt: skip
    assert rerun.exit_code == 0, rerun.output
    assert stored(db) == 400
