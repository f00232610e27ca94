"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

CliInvoke = Callable[..., Result]


def run_gapbench(
    *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a real subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "gapbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def stored_samples(db: Path) -> int:
    """Samples in the database so far, 0 before it or its table exists (for tests that watch a
    run from outside while it writes)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0


START_TOGETHER = """
def start_together():
    import sys, time
    from pathlib import Path
    ready, me = Path(sys.argv[2]), sys.argv[3]
    (ready / me).touch()
    while not (ready / "go").exists():
        time.sleep(0.001)
    return int(me)
"""
"""Prepended to every racer of `race`: `start_together()`, called once the racer is set up,
says so and returns when all are, with the racer's number."""


def race(script: str, database: str, folder: Path, racers: int = 4) -> list[tuple[str, str, int]]:
    """Run `racers` copies of `script` (argv: database, a ready folder, the racer's number) and
    start them at one moment: each calls `start_together()` (START_TOGETHER) once set up
    (imports take a while on a busy machine), which touches ready/<n> and waits for ready/go.
    Returns each one's (stdout, stderr, exit status)."""
    import time

    ready = folder / "ready"
    ready.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", START_TOGETHER + script, database, str(ready), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(racers)
    ]
    deadline = time.monotonic() + 60
    while len(list(ready.iterdir())) < racers and time.monotonic() < deadline:
        time.sleep(0.01)
    (ready / "go").touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    return [(out, err, p.returncode) for (out, err), p in zip(outputs, procs, strict=True)]
