"""A run SIGKILLed mid-way loses at most the samples in flight, duplicates none, leaves a sound
database, is marked interrupted by the next command that opens the database (and a live run never
is), and the same command resumes it to completion."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import run_gapbench, stored_samples

SLOW = "scripted:slow?accuracy=0.6&delay=0.02"
N = 60


def test_sigkill_then_resume(db: Path) -> None:
    args = ["run", "--model", SLOW, "--suite", "quick", "--n", str(N), "--db", str(db)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapbench", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    deadline = time.monotonic() + 60
    while stored_samples(db) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = stored_samples(db)
    assert 40 <= killed_at < 3 * N, "the run should have been killed mid-way"

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs")]
    assert statuses == ["running"], "nothing has looked at the database since the kill"

    # The next command to open the database, even a report, sees the process is gone.
    assert run_gapbench("leaderboard", "--db", str(db)).returncode == 0
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT status FROM runs")] == ["interrupted"]
        assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0

    result = run_gapbench(*args)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT task, COUNT(*), COUNT(DISTINCT instance_index), MIN(instance_index), "
            "MAX(instance_index) FROM samples GROUP BY task"
        ).fetchall()
        resumed = conn.execute("SELECT COUNT(*) FROM samples WHERE run_id = 2").fetchone()[0]
    assert sorted(rows) == [(t, N, N, 0, N - 1) for t in ("arith", "logic", "zh_arith")]
    assert resumed == 3 * N - killed_at, "the second run generated only what was missing"


def test_a_live_run_is_never_marked_interrupted(db: Path) -> None:
    args = ["run", "--model", SLOW, "--task", "arith", "--n", "400", "--db", str(db)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapbench", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while stored_samples(db) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run should still be going"
        for command in (["leaderboard"], ["compare", SLOW, SLOW + "x"]):
            run_gapbench(*command, "--db", str(db))
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT status, pid, host, process_started FROM runs").fetchone()
        assert row[0] == "running" and row[1] == proc.pid and row[2] and row[3]
    finally:
        proc.kill()
        proc.wait()
