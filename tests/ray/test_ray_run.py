"""`gapbench run --ray`: one run over a real local Ray cluster (a head and a second node
process), with the scripted backend and with SmolLM2 through llama.cpp, against a SQLite file;
the same samples as a local run, and nothing lost or stored twice when a worker is killed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import stored_samples
from tests.ray.ray_cluster import kill_a_busy_worker, local_cluster

pytest.importorskip("ray", reason="Ray is the optional extra gapbench[ray]")

A = "scripted:a?accuracy=0.7"
B = "scripted:b?accuracy=0.5"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_cluster(tmp_path_factory.mktemp("c")) as address:
        yield address


def _gapbench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gapbench", *args], capture_output=True, text=True, timeout=timeout
    )


def _rows(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT model_id, task, instance_index, draw, output, correct, extracted FROM samples "
            "ORDER BY model_id, task, instance_index, draw"
        ).fetchall()


def test_a_run_on_the_cluster_stores_what_a_local_run_stores(cluster: str, tmp_path: Path) -> None:
    args = ["--model", A, "--model", B, "--task", "arith,logic", "--n", "120"]
    on_ray = _gapbench("run", "--ray", cluster, *args, "--db", str(tmp_path / "ray.db"))
    assert on_ray.returncode == 0, on_ray.stderr
    local = _gapbench("run", *args, "--db", str(tmp_path / "local.db"))
    assert local.returncode == 0, local.stderr
    rows = _rows(tmp_path / "ray.db")
    assert len(rows) == 2 * 2 * 120 and rows == _rows(tmp_path / "local.db")
    with sqlite3.connect(tmp_path / "ray.db") as conn:
        runs = conn.execute("SELECT COUNT(*), COUNT(DISTINCT pid) FROM runs").fetchone()
    # 120 instances in units of 50: 3 units per task and model, run by more than one worker.
    assert runs[0] == 12 and runs[1] > 1
    assert "leads" in on_ray.stdout  # the verdicts of a local run, from the shared results


def test_a_killed_worker_loses_nothing_and_stores_nothing_twice(
    cluster: str, tmp_path: Path
) -> None:
    db = tmp_path / "killed.db"
    slow = "scripted:slow?accuracy=0.6&delay=0.01"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapbench", "run", "--ray", cluster, "--model", slow,
         "--task", "arith,logic", "--n", "400", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        killed = kill_a_busy_worker(proc, lambda: _running_pids(db), lambda: stored_samples(db))
        _, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    with sqlite3.connect(db) as conn:
        total = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        distinct = conn.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT task, instance_index, draw FROM samples)"
        ).fetchone()[0]
        statuses = {s for (s,) in conn.execute("SELECT status FROM runs")}
        killed_runs = {
            s for (s,) in conn.execute("SELECT status FROM runs WHERE pid = ?", [killed])
        }
    assert (total, distinct) == (800, 800)
    assert "running" not in statuses
    assert "interrupted" in killed_runs  # the killed worker's unit, its claims freed, redone


def _running_pids(db: Path) -> set[int]:
    if not db.exists():
        return set()
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return {p for (p,) in conn.execute("SELECT pid FROM runs WHERE status = 'running'")}
    except sqlite3.OperationalError:
        return set()


@pytest.mark.slow
def test_smollm2_through_llama_cpp_on_the_cluster(
    cluster: str, tmp_path: Path, smollm2_file: Path
) -> None:
    db = tmp_path / "llama.db"
    result = _gapbench(
        "run", "--ray", cluster, "--model", "smollm2-135m-instruct", "--task", "arith",
        "--n", "4", "--difficulty", "easy", "--max-tokens", "48", "--threads", "1",
        "--prompt-style", "answer-line", "--db", str(db), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        backends = {b for (b,) in conn.execute("SELECT backend FROM runs")}
        stored = conn.execute("SELECT COUNT(*) FROM samples WHERE error IS NULL").fetchone()[0]
    assert backends == {"llamacpp"} and stored == 4


def test_nothing_listening_is_one_sentence(tmp_path: Path) -> None:
    result = _gapbench("run", "--ray", "127.0.0.1:9", "--model", A, "--task", "arith",
                       "--db", str(tmp_path / "x.db"), timeout=60)  # fmt: skip
    assert result.returncode == 1 and "Nothing answers at --ray 127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.db").exists()


def test_without_ray_nothing_imports_ray(tmp_path: Path) -> None:
    """A plain run, with Ray installed: neither Ray nor the PostgreSQL driver is imported (Ray
    alone takes seconds to import and starts threads)."""
    script = (
        "import sys\n"
        "from gapbench.cli.main import main\n"
        "try:\n"
        f"    main(['run', '--model', {A!r}, '--task', 'arith', '--n', '20',"
        f" '--db', {str(tmp_path / 'plain.db')!r}])\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        "print(sorted(m for m in ('ray', 'psycopg') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert stored_samples(tmp_path / "plain.db") == 20
