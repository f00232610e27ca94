"""A run SIGKILLed mid-way loses at most the samples in flight, duplicates none, leaves a sound
database, and the same command resumes it to completion."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import run_gapbench

SLOW = "scripted:slow?accuracy=0.6&delay=0.02"
N = 60


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0


def test_sigkill_then_resume(db: Path) -> None:
    args = ["run", "--model", SLOW, "--suite", "quick", "--n", str(N), "--db", str(db)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapbench", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    deadline = time.monotonic() + 60
    while _count(db) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _count(db)
    assert 40 <= killed_at < 3 * N, "the run should have been killed mid-way"

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs")]
    assert statuses == ["running"], "the killed run is left visibly unfinished"

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
