"""What the store does when the file cannot be used: clear errors, and stored data left intact."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gapbench.errors import StoreError, UsageError
from gapbench.store import RunInfo, SampleKey, SampleRecord, Store
from gapbench.store.connection import translate_error


def run_info() -> RunInfo:
    return RunInfo(
        gapbench_version="0.1.0",
        model_id="m",
        backend="scripted",
        engine_version="0",
        sampling={"temperature": 0.0},
        settings_hash="h",
    )


def sample(run_id: int, index: int, output: str = "Answer: 1") -> SampleRecord:
    return SampleRecord(
        key=SampleKey("m", "t", "1", 0, index, "easy", "h"),
        run_id=run_id,
        prompt="q",
        output=output,
        extracted="1",
        extraction_ok=True,
        correct=True,
        reference="1",
        prompt_tokens=1,
        completion_tokens=1,
        finish_reason="stop",
        latency_s=0.1,
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_db(path: Path, n: int = 3) -> None:
    with Store.open(path) as store:
        run = store.start_run(run_info())
        store.add_samples([sample(run, i) for i in range(n)])


# Locking


def test_locked_database_gives_store_error_and_data_survives(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    make_db(db)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        # WAL lets readers through while another process writes: open and read still work.
        with Store.open(db, busy_timeout=0.2) as store:
            assert len(store.samples()) == 3
            started = time.monotonic()
            with pytest.raises(StoreError, match="locked") as err:
                store.add_sample(sample(1, 3))
            assert time.monotonic() - started < 3  # the busy timeout was honoured
            assert "another --db" in str(err.value)
            with pytest.raises(StoreError, match="locked"):
                store.start_run(run_info())
            other.execute("COMMIT")
            # Released: the same store writes again, and nothing was lost or half-written.
            assert store.add_sample(sample(1, 3))
            assert sorted(s.key.index for s in store.samples()) == [0, 1, 2, 3]
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_open_while_another_holds_an_exclusive_lock(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # a rollback-journal lock: even reading must wait
    try:
        with pytest.raises(StoreError, match="locked"):
            Store.open(db, busy_timeout=0.2)
    finally:
        other.execute("ROLLBACK")
        other.close()
    make_db(db)  # usable once released


# Bad paths and files that are not gapbench databases


def test_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    db = tmp_path / "no" / "such" / "dir" / "x.db"
    with pytest.raises(UsageError, match="does not exist") as err:
        Store.open(db)
    assert str(db.parent) in str(err.value)
    assert not (tmp_path / "no").exists()


def test_parent_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match="not a folder"):
        Store.open(blocker / "x.db")
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("readonly", [False, True])
def test_folder_as_database_is_a_usage_error(tmp_path: Path, readonly: bool) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        Store.open(tmp_path, readonly=readonly)


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize(
    "content",
    [b"model,accuracy\nm1,0.5\n" * 50, os.urandom(8192), b"SQLite format 3\x00" + b"\xff" * 200],
    ids=["text", "random", "bad-header"],
)
def test_not_a_database_is_refused_untouched(
    tmp_path: Path, content: bytes, readonly: bool
) -> None:
    db = tmp_path / "results.csv"
    db.write_bytes(content)
    with pytest.raises(UsageError, match=r"not a gapbench database \(file is not a database\)"):
        Store.open(db, readonly=readonly)
    assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_corrupt_database_gives_store_error(tmp_path: Path) -> None:
    db = tmp_path / "corrupt.db"
    with Store.open(db) as store:
        run = store.start_run(run_info())
        store.add_samples([sample(run, i, output="x" * 3000) for i in range(200)])
    data = bytearray(db.read_bytes())
    page = 4096
    for start in range(10 * page, 40 * page, page):  # well inside the samples table
        data[start : start + page] = b"\xde\xad" * (page // 2)
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt"), Store.open(db, readonly=True) as store:
        store.samples()


def test_programming_errors_are_not_disguised(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(sqlite3.OperationalError) as err:
        conn.execute("SELECT * FROM no_such_table")
    assert translate_error(tmp_path / "x.db", err.value) is None  # a bug keeps its traceback


# Permissions. Tests run as root, whom chmod does not stop, so the store is driven from a child
# process that drops to `nobody` once gapbench is imported (the interpreter itself may live where
# `nobody` cannot reach); as any other user, chmod alone is enough.

CHILD = """
import os, sys
from gapbench.errors import GapbenchError
from gapbench.store import Store
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
try:
    with Store.open(sys.argv[1], readonly=sys.argv[2] == "ro") as store:
        print("ok", len(store.samples()))
except GapbenchError as exc:
    print(type(exc).__name__, exc)
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder that `nobody` can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="gapbench-store-"))
    path.chmod(0o777)
    yield path
    path.chmod(0o755)
    shutil.rmtree(path)


def as_unprivileged(db: Path, mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot run gapbench as an unprivileged user here: {done.stderr[-300:]}")
    return done.stdout.strip()


def test_read_only_file_and_folder(shared_dir: Path) -> None:
    db = shared_dir / "results.db"
    make_db(db)
    before = sha(db)
    db.chmod(0o444)
    out = as_unprivileged(db, "rw")
    assert out.startswith("StoreError") and "read-only" in out, out
    shared_dir.chmod(0o555)
    try:
        out = as_unprivileged(db, "rw")
        assert out.startswith("StoreError") and "read-only" in out, out
        out = as_unprivileged(shared_dir / "new.db", "rw")
        assert out.startswith("StoreError") and "read-only" in out, out
        # Reading needs no write access at all, even though WAL mode normally creates side files.
        assert as_unprivileged(db, "ro") == "ok 3"
    finally:
        shared_dir.chmod(0o777)
    assert sha(db) == before
    assert sorted(p.name for p in shared_dir.iterdir()) == ["results.db"]


# Crash safety

WRITER = """
import sys
from gapbench.store import RunInfo, SampleKey, SampleRecord, Store
store = Store.open(sys.argv[1])
run = store.start_run(RunInfo(gapbench_version="0", model_id="m", backend="b",
                              engine_version="0", sampling={}, settings_hash="h"))
i = 0
while True:
    store.add_sample(SampleRecord(
        key=SampleKey("m", "t", "1", 0, i, "easy", "h"), run_id=run, prompt="q" * (i % 700),
        output="o" * (i % 1300), extracted="1", extraction_ok=True, correct=True, reference="1",
        prompt_tokens=1, completion_tokens=1, finish_reason="stop", latency_s=0.1))
    i += 1
"""


def test_sigkill_mid_run_leaves_a_sound_contiguous_prefix(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        stored = 0
        while stored < 50 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.1)
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=1) as conn:
                        stored = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
                except sqlite3.OperationalError:
                    pass  # tables not created yet
        time.sleep(0.5)
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        indices = [r[0] for r in conn.execute("SELECT instance_index FROM samples ORDER BY 1")]
    assert len(indices) >= 50
    assert indices == list(range(len(indices)))  # no gaps, no duplicates
    with Store.open(db) as store:
        assert store.done_draws("m", "t", "1", 0, "easy", "h") == {(i, 0) for i in indices}
        assert all(len(s.output) == s.key.index % 1300 for s in store.samples())
