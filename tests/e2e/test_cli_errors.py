"""Bad input gets one clear sentence and the right exit code, never a traceback, and stored results
are never damaged."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
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


@pytest.mark.parametrize("command", [("leaderboard",), ("compare", MODEL, "scripted:b"), ("gap",)])
def test_reading_a_missing_or_empty_db_is_an_input_error(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A --db that does not exist, or holds nothing yet, is the user's input (a wrong path, or
    nothing run there): exit 2, as `report` and `serve` say, and no file is created or touched."""
    result = run_gapbench(*command, "--db", str(tmp_path / "none.db"))
    _assert_clean_error(result, 2, "No database at", "none.db")
    assert not (tmp_path / "none.db").exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = run_gapbench(*command, "--db", str(empty))
    _assert_clean_error(result, 2, "No results in", "empty.db")
    assert empty.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


# Bounds probed from the outside: each is refused in one sentence, before a database exists.


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("--n", str(10**12)), "--n from 1 to 1,000,000"),
        (("--n", "0"), "--n from 1 to 1,000,000"),
        (("--samples", "1001", "--temperature", "0.8"), "--samples from 1 to 1,000"),
        (("--seed", str(2**63)), "--seed from 0 to 2**63 - 1"),
        (("--seed", "-1"), "--seed from 0 to 2**63 - 1"),
        (("--temperature", "nan"), "not a finite number"),
        (("--temperature", "inf"), "not a finite number"),
        (("--samples", "3", "--temperature", "nan"), "not a finite number"),
        (("--usd-per-hour", "inf"), "not a finite number"),
        (("--batch-size", "0"), "'0' is neither 'auto' nor a whole number of at least 1"),
        (("--batch-size", "many"), "'many' is neither 'auto' nor a whole number of at least 1"),
    ],
)
def test_out_of_range_options_are_usage_errors(
    db: Path, args: tuple[str, ...], phrase: str
) -> None:
    result = run_gapbench("run", "--model", MODEL, "--task", "arith", *args, "--db", str(db))
    _assert_clean_error(result, 2, phrase)
    assert not db.exists()


def test_the_largest_seed_is_stored_and_resumed(db: Path) -> None:
    args = ["run", "--model", MODEL, "--task", "arith", "--n", "2", "--seed", str(2**63 - 1)]
    assert run_gapbench(*args, "--db", str(db)).returncode == 0
    assert run_gapbench(*args, "--db", str(db)).returncode == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT DISTINCT seed FROM samples").fetchall() == [(2**63 - 1,)]
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


def test_the_largest_n_starts_at_once(db: Path) -> None:
    """Planning is lazy: with a million instances per task the first sample is stored within
    seconds, and the process stays small (eager planning grew by about 20 MB/s here)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapbench", "run", "--model", "scripted:big?delay=0.01",
         "--suite", "quick", "--n", "1000000", "--db", str(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        stored = 0
        while stored < 20 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=5) as conn:
                        stored = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
                except sqlite3.OperationalError:
                    pass  # tables not created yet
        assert stored >= 20, "the first samples of a million-instance run came at once"
        rss_kb = int(Path(f"/proc/{proc.pid}/status").read_text().split("VmRSS:")[1].split()[0])
        assert rss_kb < 300_000, rss_kb
    finally:
        proc.kill()
        proc.wait()


def _run_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI run from `folder` (where it reads gapbench.toml), with a HOME of its own."""
    return subprocess.run(
        [sys.executable, "-m", "gapbench", *args],
        capture_output=True, text=True, timeout=300, cwd=folder,
        env={**os.environ, "HOME": str(folder), "COLUMNS": "200"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("config", "phrase"),
    [
        ("usd_per_hour = [\n", "not valid TOML"),
        ("usd_per_hour = -0.5\n", "non-negative"),
        ('[prices."openai/gpt-x"]\ninput_per_mtok = -1\noutput_per_mtok = 2\n', "non-negative"),
    ],
)
def test_bad_configuration_stops_the_run_before_its_first_sample(
    tmp_path: Path, config: str, phrase: str
) -> None:
    (tmp_path / "gapbench.toml").write_text(config)
    db = tmp_path / "results.db"
    result = _run_in(tmp_path, "run", "--model", MODEL, "--task", "arith", "--db", str(db))
    _assert_clean_error(result, 2, phrase)
    assert not db.exists()


def test_failed_samples_exit_1_and_say_how_many_and_how_to_retry(db: Path) -> None:
    cli = [sys.executable, str(Path(__file__).with_name("scripted_cli.py"))]
    args = [*cli, "run", "--model", MODEL, "--suite", "quick", "--n", "20", "--db", str(db)]
    env = {**os.environ, "COLUMNS": "200"}
    failing = subprocess.run(
        args, capture_output=True, text=True, timeout=300, env={**env, "GAPBENCH_TEST_FAIL": "0.9"}
    )
    _assert_clean_error(failing, 1, "planned samples failed", "rerun the same command")
    with sqlite3.connect(db) as conn:
        failed = conn.execute("SELECT COUNT(*) FROM samples WHERE error IS NOT NULL").fetchone()[0]
        answered = conn.execute("SELECT COUNT(*) FROM samples WHERE error IS NULL").fetchone()[0]
        assert conn.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    assert failed > 30 and failed + answered == 60
    assert f"{failed} of 60 planned samples failed" in failing.stderr
    # Beside the score, loudly: answered/planned in the n column, and a warning line.
    flat = " ".join(failing.stdout.split())
    assert f"{answered}/60" in flat
    assert f"answered only {answered} of 60 planned samples ({failed} failed): most" in flat

    leaderboard = run_gapbench("leaderboard", "--json", "--db", str(db))
    overall = json.loads(leaderboard.stdout)[0]
    assert (overall["planned"], overall["answered"], overall["failed"]) == (60, answered, failed)

    # The retry generates only the failed ones, and with none failing exits 0.
    retry = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert retry.returncode == 0, retry.stderr
    assert "Warning" not in retry.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM samples WHERE error IS NULL").fetchone()[0] == 60
        statuses = conn.execute("SELECT status FROM runs ORDER BY id").fetchall()
    assert statuses == [("failed",), ("completed",)]


def test_fixed_dataset_past_its_size_is_refused_before_any_sample(db: Path) -> None:
    result = run_gapbench(
        "run", "--model", MODEL, "--task", "arith,humaneval", "--n", "165", "--db", str(db)
    )
    _assert_clean_error(result, 2, "HumanEval has 164 problems")
    assert not db.exists()


def _on_read_only_mount(source: Path, mount: Path, commands: str) -> str:
    """Run shell `commands` with `source` bind-mounted read-only at `mount`, in a user and mount
    namespace of its own (unshare: chmod does not stop root); returns stdout, stderr after it."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available to mount a folder read-only")
    mount.mkdir()
    script = (
        f"mount --bind -o ro {source} {mount} && touch {mount}/probe 2>/dev/null && exit 99; "
        + commands
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    if done.returncode == 99 or "unshare:" in done.stderr or "mount:" in done.stderr:
        pytest.skip(f"cannot mount read-only here: {done.stderr[-200:]}")
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout + "\n--stderr--\n" + done.stderr


def test_reports_read_a_database_copied_onto_a_read_only_mount(
    stored_db: Path, tmp_path: Path
) -> None:
    """SQLite answers SQLITE_CANTOPEN when it cannot create a WAL database's -shm file on a
    read-only file system; reports read the file all the same."""
    source, mount = tmp_path / "copy", tmp_path / "ro"
    source.mkdir()
    with sqlite3.connect(stored_db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(stored_db, source / "results.db")  # the file alone, as people copy it
    gapbench = f"{sys.executable} -m gapbench"
    out = _on_read_only_mount(
        source,
        mount,
        f"{gapbench} leaderboard --json --db {mount}/results.db; echo leaderboard=$?; "
        f"{gapbench} compare {MODEL} {MODEL}x --db {mount}/results.db; echo compare=$?",
    )
    assert "leaderboard=0" in out and "cannot be opened" not in out, out
    payload = out[out.index("[") : out.index("leaderboard=")]
    assert [row["n"] for row in json.loads(payload) if row["task"] == "overall"] == [5]
    # compare reads it too, and answers the unknown model with a usage error, not an I/O one.
    assert "compare=2" in out and "No results for model" in out, out
    assert sorted(p.name for p in source.iterdir()) == ["results.db"]


def test_a_read_only_copy_with_unread_wal_pages_says_what_to_do(
    stored_db: Path, tmp_path: Path
) -> None:
    """Copied with a -wal file that holds committed pages, the database cannot be read without
    write access (and reading the main file alone would miss them): one sentence says so."""
    source, mount = tmp_path / "copy", tmp_path / "ro"
    source.mkdir()
    holder = sqlite3.connect(stored_db, isolation_level=None)
    try:
        holder.execute("PRAGMA wal_autocheckpoint = 0")
        holder.execute("UPDATE samples SET output = output || ' ' WHERE instance_index = 0")
        for name in ("results.db", "results.db-wal"):
            shutil.copy(stored_db.with_name(name), source / name)
    finally:
        holder.close()
    assert (source / "results.db-wal").stat().st_size > 0
    out = _on_read_only_mount(
        source,
        mount,
        f"{sys.executable} -m gapbench leaderboard --db {mount}/results.db; echo leaderboard=$?",
    )
    assert "leaderboard=1" in out and "results.db-wal" in out and "writable folder" in out, out
