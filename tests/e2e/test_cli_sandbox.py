"""Code tasks and the sandbox through the CLI, in real subprocesses: refused before anything runs
where bubblewrap cannot run, run with --unsafe-sandbox only when asked, and that choice recorded in
the run and marked beside every score it produced."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.helpers import run_gapbench

from gapbench.scoring.sandbox_engine import BWRAP_ENV, bwrap_path

CODER = "scripted:coder?accuracy=1"
NO_BWRAP = {BWRAP_ENV: ""}


def _sandbox_settings(db: Path) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        return [json.loads(s)["sandbox"] for (s,) in conn.execute("SELECT sampling FROM runs")]


def test_without_bubblewrap_code_tasks_are_refused_before_anything_runs(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    result = run_gapbench("run", "--model", CODER, "--task", "humaneval", "--n", "2",
                          "--db", str(db), env=NO_BWRAP)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert "bubblewrap (bwrap) is not installed" in line and "--unsafe-sandbox" in line
    assert not db.exists()


def test_tasks_without_code_do_not_need_the_sandbox(tmp_path: Path) -> None:
    result = run_gapbench("run", "--model", CODER, "--task", "arith", "--n", "2",
                          "--db", str(tmp_path / "r.db"), env=NO_BWRAP)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_unsafe_sandbox_is_recorded_and_marked_beside_its_scores(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    result = run_gapbench("run", "--model", CODER, "--task", "humaneval", "--n", "2",
                          "--unsafe-sandbox", "--db", str(db), env=NO_BWRAP)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Warning: no sandbox (--unsafe-sandbox)" in result.stderr
    [settings] = _sandbox_settings(db)
    assert settings["level"] == "unsafe" and settings["engine"] == "none"
    board = run_gapbench("leaderboard", "--db", str(db))
    assert "100.0 !" in board.stdout and "--unsafe-sandbox" in board.stdout
    rows = json.loads(run_gapbench("leaderboard", "--db", str(db), "--json").stdout)
    assert {r["task"]: r["unsafe_sandbox"] for r in rows} == {"overall": 2, "humaneval": 2}


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap is not installed")
def test_with_bubblewrap_the_run_records_it_and_scores_are_unmarked(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    result = run_gapbench("run", "--model", CODER, "--task", "humaneval", "--n", "2",
                          "--unsafe-sandbox", "--db", str(db))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr  # --unsafe-sandbox only matters where bwrap fails
    [settings] = _sandbox_settings(db)
    assert settings["level"] == "bubblewrap" and str(settings["engine"]).startswith("bubblewrap")
    board = run_gapbench("leaderboard", "--db", str(db))
    assert " !" not in board.stdout
