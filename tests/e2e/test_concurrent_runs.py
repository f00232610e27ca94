"""Concurrent `gapbench run` processes over the same instances, one of them SIGKILLed mid-way:
every sample is generated exactly once among the survivors (counted by the backend itself, in
every process), the killed run's claims are taken over, and each run is charged only its own
time."""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gapbench.backends.registry import billing_of
from gapbench.perf.attribution import account_runs
from gapbench.store import Store

SLOW = "scripted:shared?accuracy=0.6&delay=0.03"
N = 40
TASKS = ("arith", "logic", "zh_arith")
CLI = Path(__file__).with_name("scripted_cli.py")


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def _wait_for(db: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _stored(db) < count:
        assert time.monotonic() < deadline, f"fewer than {count} samples after {timeout} s"
        time.sleep(0.02)


def _start(db: Path, log: Path) -> subprocess.Popen[str]:
    args = ["run", "--model", SLOW, "--suite", "quick", "--n", str(N), "--db", str(db)]
    return subprocess.Popen(
        [sys.executable, str(CLI), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GAPBENCH_TEST_GENERATIONS": str(log), "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, list[int]]:
    """One run SIGKILLed while three others run beside it over the same 120 samples."""
    tmp = tmp_path_factory.mktemp("concurrent")
    db, log = tmp / "shared.db", tmp / "generations.log"
    victim = _start(db, log)
    _wait_for(db, 3)
    survivors = [_start(db, log) for _ in range(3)]
    _wait_for(db, 20)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    codes = []
    for proc in survivors:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        codes.append(proc.returncode)
    return db, log, victim.pid, [p.pid for p in survivors]


def _generations(log: Path) -> list[tuple[int, str]]:
    return [(int(pid), rid) for pid, rid in (line.split() for line in log.read_text().splitlines())]


def test_every_sample_is_stored_once_and_no_claim_is_left(shared_run: tuple) -> None:
    db = shared_run[0]
    with sqlite3.connect(db) as conn:
        per_task = conn.execute(
            "SELECT task, COUNT(*), COUNT(DISTINCT instance_index) FROM samples GROUP BY task"
        ).fetchall()
        assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sorted(per_task) == [(task, N, N) for task in TASKS]


def test_survivors_generate_each_sample_exactly_once(shared_run: tuple) -> None:
    """Counted where it happens: the backend of every process logs each generation. What the
    killed run stored it never regenerates; everything else, including what it was generating
    when it died, the survivors generate once between them."""
    db, log, victim_pid, survivor_pids = shared_run
    from gapbench.tasks.prompts import request_id
    from gapbench.tasks.registry import get_task

    with sqlite3.connect(db) as conn:
        stored_by_victim = {
            (task, int(index))
            for task, index in conn.execute(
                "SELECT task, instance_index FROM samples WHERE run_id = (SELECT MIN(id) FROM runs)"
            )
        }
    generations = _generations(log)
    assert {pid for pid, _ in generations} <= {victim_pid, *survivor_pids}
    by_survivors = collections.Counter(rid for pid, rid in generations if pid != victim_pid)
    assert stored_by_victim, "the killed run stored samples before it died"
    for task in TASKS:
        for index in range(N):
            rid = request_id(get_task(task).instance(0, index, "medium"))
            want = 0 if (task, index) in stored_by_victim else 1
            assert by_survivors[rid] == want, (task, index, by_survivors[rid])
    assert len({pid for pid, _ in generations if pid != victim_pid}) >= 2, "work was shared"


def test_runs_end_truthfully_and_are_charged_only_their_own_time(shared_run: tuple) -> None:
    db, log, victim_pid, survivor_pids = shared_run
    with Store.open(db, readonly=True) as store:
        runs = store.runs()
        totals = store.run_latency_totals()
        samples = store.samples()
    by_pid = {run.holder.pid: run for run in runs if run.holder is not None}
    assert by_pid[victim_pid].status == "interrupted"
    assert all(by_pid[pid].status == "completed" for pid in survivor_pids)
    logged = collections.Counter(pid for pid, _ in _generations(log))
    accounts = account_runs(runs, totals, billing_of)
    for pid in survivor_pids:
        run = by_pid[pid]
        assert run.measures is not None and run.measures.latency_seconds is not None
        # Every generation it made was stored under it: its time is spread over exactly those.
        assert run.measures.generations == logged[pid] == sum(s.run_id == run.id for s in samples)
        assert run.measures.latency_seconds == pytest.approx(totals[run.id], rel=1e-9)
        # Sequential generation: charged about its own latency. Runs that redid each other's
        # work, or counted the time they waited for another's claims, came out 3-4x here.
        assert 0.9 < accounts[run.id].scale < 1.8, accounts[run.id].scale
