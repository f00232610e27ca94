"""Claims, leases and dead-run detection on real SQLite files and real processes: a claim is taken
once, expires only when its holder stops renewing it, is released with the sample it covers, and a
run is marked interrupted only when its process is certainly gone."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.helpers import race

from gapbench.store import RunInfo, SampleKey, SampleRecord, Store, leases
from gapbench.store.records import RunHolder

LEASE = 60.0


def info() -> RunInfo:
    return RunInfo(
        gapbench_version="0", model_id="m", backend="scripted", engine_version="0",
        sampling={}, settings_hash="h",
    )  # fmt: skip


def key(i: int, draw: int = 0) -> SampleKey:
    return SampleKey("m", "arith", "1", 0, i, "easy", "h", draw)


def sample(run_id: int, i: int, error: str | None = None) -> SampleRecord:
    return SampleRecord(
        key=key(i), run_id=run_id, prompt="q", output="Answer: 1", extracted="1",
        extraction_ok=error is None, correct=error is None, reference="1", prompt_tokens=1,
        completion_tokens=1, finish_reason="error" if error else "stop", latency_s=0.1,
        error=error,
    )  # fmt: skip


def claims(db: Path) -> dict[int, int]:
    """instance index -> holding run id."""
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT instance_index, run_id FROM claims").fetchall())


def status(db: Path, run_id: int) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0])


def other_host(expires_at: float) -> RunHolder:
    return RunHolder("elsewhere/boot/1", 4242, "77", expires_at)


def test_a_claim_is_taken_once_until_it_expires(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    now = 1000.0
    with Store.open(db) as store:
        a, b = store.start_run(info()), store.start_run(info())
        first = store.claim(a, [key(i) for i in range(4)], now, LEASE)
        assert first.claimed == tuple(key(i) for i in range(4)) and not first.held
        second = store.claim(b, [key(i) for i in range(2, 6)], now + 1, LEASE)
        assert second.claimed == (key(4), key(5)) and second.held == (key(2), key(3))
        # Claiming again what one holds is harmless and keeps it.
        assert store.claim(a, [key(0)], now + 2, LEASE).claimed == (key(0),)
        # Unrenewed, a's claims lapse after the lease; then b may take them.
        assert store.claim(b, [key(2)], now + LEASE - 1, LEASE).held == (key(2),)
        assert store.claim(b, [key(2)], now + LEASE + 1, LEASE).claimed == (key(2),)
    assert claims(db) == {0: a, 1: a, 2: b, 3: a, 4: b, 5: b}


def test_renewal_keeps_claims_and_finishing_releases_them(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    now = 1000.0
    with Store.open(db) as store:
        a, b = store.start_run(info()), store.start_run(info())
        store.claim(a, [key(0), key(1)], now, LEASE)
        store.renew_lease(a, now + 50, LEASE)
        assert store.claim(b, [key(0)], now + LEASE + 1, LEASE).held == (key(0),)
        store.finish_run(a, "completed")
        assert claims(db) == {}
        assert store.claim(b, [key(0)], now + LEASE + 2, LEASE).claimed == (key(0),)


def test_storing_a_sample_releases_its_claim_and_done_samples_are_not_claimed(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    with Store.open(db) as store:
        a, b = store.start_run(info()), store.start_run(info())
        store.claim(a, [key(0), key(1), key(2)], 0.0, LEASE)
        store.add_sample(sample(a, 0))
        store.add_sample(sample(a, 1, error="timeout"))
        assert claims(db) == {2: a}
        outcome = store.claim(b, [key(0), key(1), key(2)], 1.0, LEASE)
        # A success is final; a stored failure is there to be retried; key 2 is still a's.
        assert outcome.done == (key(0),)
        assert outcome.claimed == (key(1),)
        assert outcome.held == (key(2),)


def test_this_process_is_alive_and_an_exited_one_is_gone() -> None:
    me = leases.this_process(lease_expires_at=0.0)
    assert me.process_started, "Linux exposes the start time of a process"
    assert not leases.holder_is_gone(me, now=time.time())  # an expired lease does not matter
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = leases.process_started(child.pid)
        assert started
        holder = RunHolder(leases.host_identity(), child.pid, started, time.time() + LEASE)
        assert not leases.holder_is_gone(holder, time.time())
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while leases.process_started(child.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        # Killed but not yet reaped (a zombie, its pid still taken): gone.
        assert Path(f"/proc/{child.pid}").exists()
        assert leases.holder_is_gone(holder, time.time())
    finally:
        child.kill()
        child.wait()
    assert leases.holder_is_gone(holder, time.time())
    # A live pid with another start time is another process that reused the number.
    reused = RunHolder(leases.host_identity(), me.pid, "1", time.time() + LEASE)
    assert leases.holder_is_gone(reused, time.time())


def test_another_hosts_run_is_gone_only_once_its_lease_expired() -> None:
    assert not leases.holder_is_gone(other_host(expires_at=2000.0), now=1999.0)
    assert leases.holder_is_gone(other_host(expires_at=2000.0), now=2001.0)
    assert not leases.holder_is_gone(other_host(expires_at=None), now=1e12)


def test_reaping_marks_only_dead_runs_and_frees_their_claims(tmp_path: Path) -> None:
    db = tmp_path / "reap.db"
    now = time.time()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead_local = RunHolder(leases.host_identity(), child.pid, "12345", now + LEASE)
    with Store.open(db) as store:
        live = store.start_run(info(), leases.this_process(now + LEASE))
        dead = store.start_run(info(), dead_local)
        remote_live = store.start_run(info(), other_host(now + LEASE))
        remote_dead = store.start_run(info(), other_host(now - 1))
        legacy = store.start_run(info())  # an older gapbench recorded no process
        for run_id, i in ((live, 0), (dead, 1), (remote_live, 2), (remote_dead, 3)):
            store.claim(run_id, [key(i)], now - 1, LEASE * 2)
        assert sorted(store.reap_dead_runs(now)) == [dead, remote_dead]
        assert store.reap_dead_runs(now) == []
    assert [status(db, r) for r in (live, dead, remote_live, remote_dead, legacy)] == [
        "running", "interrupted", "running", "interrupted", "running",
    ]  # fmt: skip
    assert claims(db) == {0: live, 2: remote_live}


def test_a_read_only_store_marks_dead_runs_through_its_own_connection(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    with Store.open(db) as store:
        run = store.start_run(info(), other_host(1.0))
        store.add_sample(sample(run, 0))
    with Store.open(db, readonly=True) as store:
        assert store.reap_dead_runs(time.time()) == [run]
        assert [r.status for r in store.runs()] == ["interrupted"]


def test_a_lapsed_run_that_renews_is_running_again(tmp_path: Path) -> None:
    db = tmp_path / "lapse.db"
    with Store.open(db) as store:
        run = store.start_run(info(), other_host(10.0))
        assert store.reap_dead_runs(11.0) == [run]
        store.renew_lease(run, 12.0, LEASE)
        (row,) = store.runs()
    assert row.status == "running" and row.finished_at is None
    assert row.holder is not None and row.holder.lease_expires_at == 12.0 + LEASE


RACER = """
import json, sys, time
from gapbench.store import RunInfo, SampleKey, Store
db = sys.argv[1]
with Store.open(db, busy_timeout=30) as store:
    run = store.start_run(RunInfo(gapbench_version="0", model_id="m", backend="b",
                                  engine_version="0", sampling={}, settings_hash="h"))
    start_together()
    mine = []
    for chunk in range(0, 200, 8):
        keys = [SampleKey("m", "arith", "1", 0, i, "easy", "h") for i in range(chunk, chunk + 8)]
        got = [k.index for k in store.claim(run, keys, time.time(), 60).claimed]
        # "Generating" what it got while the others move on: 2 s of work in all (0.5 s each),
        # so a racer that wakes late on a loaded machine still finds keys left to claim.
        time.sleep(0.01 * len(got))
        mine += got
print(json.dumps(mine))
"""


def test_racing_processes_each_claim_disjoint_samples(tmp_path: Path) -> None:
    """Four processes claim the same 200 keys, chunk by chunk in the same order, from the same
    moment, pausing to "generate" what they got: every key is claimed by exactly one of them."""
    db = tmp_path / "race.db"
    Store.open(db).close()
    outputs = race(RACER, str(db), tmp_path)
    assert all(status == 0 for _, _, status in outputs), [err for _, err, _ in outputs]
    results = [json.loads(out) for out, _, _ in outputs]
    every = [i for got in results for i in got]
    assert sorted(every) == list(range(200))
    assert sum(1 for got in results if got) >= 3, "the racers did overlap"


@pytest.mark.parametrize("column", ["host", "pid", "process_started", "lease_expires_at"])
def test_run_rows_round_trip_their_holder(tmp_path: Path, column: str) -> None:
    holder = RunHolder("h/b/1", 17, "99", 123.5)
    with Store.open(tmp_path / "h.db") as store:
        store.start_run(info(), holder)
        (row,) = store.runs()
    assert row.holder == holder
    assert getattr(row.holder, column) == getattr(holder, column)
