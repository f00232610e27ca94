"""Bad input gets one clear sentence and the right exit code, never a traceback, and stored results
are never damaged."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from tests.helpers import run_gapbench

MODEL = "scripted:ok?accuracy=0.5"


def _assert_clean_error(result: object, code: int, *phrases: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == code, (result.returncode, stderr)  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    for phrase in phrases:
        assert phrase in stderr, stderr


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def stored_db(db: Path) -> Path:
    result = run_gapbench("run", "--model", MODEL, "--task", "arith", "--n", "5", "--db", str(db))
    assert result.returncode == 0, result.stderr
    return db


def test_unknown_model_suggests_closest(db: Path) -> None:
    result = run_gapbench("run", "--model", "smollm2-135m", "--task", "arith", "--db", str(db))
    _assert_clean_error(result, 2, "smollm2-135m", "smollm2-135m-instruct")


def test_unknown_task_suggests_closest(db: Path) -> None:
    result = run_gapbench("run", "--model", MODEL, "--task", "arithm", "--db", str(db))
    _assert_clean_error(result, 2, "arithm", "arith")


def test_unknown_suite(db: Path) -> None:
    result = run_gapbench("run", "--model", MODEL, "--suite", "quik", "--db", str(db))
    _assert_clean_error(result, 2, "quik", "quick")


def test_negative_n_is_a_usage_error(db: Path) -> None:
    result = run_gapbench("run", "--model", MODEL, "--task", "arith", "--n", "-3", "--db", str(db))
    _assert_clean_error(result, 2, "--n")
    assert not db.exists()


def test_missing_gguf_path(tmp_path: Path, db: Path) -> None:
    missing = tmp_path / "nothere.gguf"
    result = run_gapbench("run", "--model", str(missing), "--task", "arith", "--db", str(db))
    _assert_clean_error(result, 2, "nothere.gguf")


def test_corrupt_gguf_is_refused(tmp_path: Path, db: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    result = run_gapbench(
        "run", "--model", str(bad), "--task", "arith", "--n", "2", "--db", str(db)
    )
    _assert_clean_error(result, 2, "broken.gguf")


def test_newer_schema_is_refused_untouched(stored_db: Path) -> None:
    conn = sqlite3.connect(stored_db)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    # Fold the WAL into the main file so its bytes hold the whole database before we compare.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = _digest(stored_db)
    for args in (
        ("leaderboard", "--db", str(stored_db)),
        ("run", "--model", MODEL, "--task", "arith", "--n", "6", "--db", str(stored_db)),
    ):
        result = run_gapbench(*args)
        _assert_clean_error(result, 1, "newer gapbench")
    assert _digest(stored_db) == before


def test_not_a_database(tmp_path: Path) -> None:
    fake = tmp_path / "notes.db"
    fake.write_text("these are my notes, not a database\n" * 100)
    before = _digest(fake)
    result = run_gapbench("leaderboard", "--db", str(fake))
    _assert_clean_error(result, 2, "notes.db")
    assert _digest(fake) == before


def test_locked_database_waits_then_fails_cleanly(stored_db: Path) -> None:
    holder = sqlite3.connect(stored_db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run_gapbench(
            "run",
            "--model",
            MODEL,
            "--task",
            "arith",
            "--n",
            "8",
            "--db",
            str(stored_db),
            env={"GAPBENCH_BUSY_TIMEOUT": "0.5"},
        )
        _assert_clean_error(result, 1, "locked")
    finally:
        holder.rollback()
        holder.close()
    with sqlite3.connect(stored_db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 5
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_compare_unknown_model(stored_db: Path) -> None:
    result = run_gapbench("compare", MODEL, "scripted:other", "--db", str(stored_db))
    _assert_clean_error(result, 2, "scripted:other")


def test_leaderboard_on_missing_db(tmp_path: Path) -> None:
    result = run_gapbench("leaderboard", "--db", str(tmp_path / "none.db"))
    _assert_clean_error(result, 1, "none.db")
    assert not (tmp_path / "none.db").exists()
