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
