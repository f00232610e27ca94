"""`gapbench run --ray` against a real PostgreSQL server: workers on two node processes write
straight to the shared database, a killed worker loses nothing, and a password typed into the
URL, which only the driver holds, is refused with the way out (PGPASSWORD on every node)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from tests.ray.ray_cluster import kill_a_busy_worker, local_cluster
from tests.store.postgres_server import PostgresServer

pytest.importorskip("ray", reason="Ray is the optional extra gapbench[ray]")
psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL driver is gapbench[postgres]")


@pytest.fixture(scope="module")
def pg_cluster(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A two-node cluster whose workers find the server's password where libpq looks for it."""
    saved = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = postgres.password
    try:
        with local_cluster(tmp_path_factory.mktemp("pgc")) as address:
            yield address
    finally:
        if saved is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = saved


def _database(postgres: PostgresServer) -> str:
    """A new database's URL without its password (PGPASSWORD holds it)."""
    url = postgres.create_database()
    return url.replace(f":{postgres.password}@", "@")


def _counts(postgres: PostgresServer, url: str) -> tuple[int, int, set[str]]:
    with psycopg.connect(url, password=postgres.password) as conn:
        total = conn.execute("SELECT COUNT(*) FROM gapbench.samples").fetchone()[0]
        distinct = conn.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT model_id, task, instance_index, draw "
            "FROM gapbench.samples) AS keys"
        ).fetchone()[0]
        statuses = {s for (s,) in conn.execute("SELECT status FROM gapbench.runs")}
    return int(total), int(distinct), statuses


def test_workers_store_into_postgres_and_a_killed_one_loses_nothing(
    pg_cluster: str, postgres: PostgresServer
) -> None:
    url = _database(postgres)
    slow = "scripted:slow?accuracy=0.6&delay=0.01"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapbench", "run", "--ray", pg_cluster, "--model", slow,
         "--model", "scripted:fast?accuracy=0.4", "--task", "arith,logic", "--n", "300",
         "--db", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        killed = kill_a_busy_worker(
            proc, lambda: _running_pids(postgres, url), lambda: _counts(postgres, url)[0]
        )
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    total, distinct, statuses = _counts(postgres, url)
    assert (total, distinct) == (1200, 1200) and "running" not in statuses
    with psycopg.connect(url, password=postgres.password) as conn:
        killed_runs = conn.execute(
            "SELECT status FROM gapbench.runs WHERE pid = %s", [killed]
        ).fetchall()
    assert ("interrupted",) in killed_runs and postgres.password not in out + err


def _running_pids(postgres: PostgresServer, url: str) -> set[int]:
    try:
        with psycopg.connect(url, password=postgres.password) as conn:
            rows = conn.execute("SELECT pid FROM gapbench.runs WHERE status = 'running'")
            return {int(pid) for (pid,) in rows}
    except psycopg.Error:
        return set()  # the schema is not there yet


def test_a_password_in_the_url_is_refused_before_any_worker_starts(
    pg_cluster: str, postgres: PostgresServer
) -> None:
    url = postgres.create_database()
    result = subprocess.run(
        [sys.executable, "-m", "gapbench", "run", "--ray", pg_cluster, "--model", "scripted:a",
         "--task", "arith", "--n", "5", "--db", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "set PGPASSWORD" in result.stderr
    assert postgres.password not in result.stderr + result.stdout


@pytest.mark.slow
def test_smollm2_through_llama_cpp_into_postgres(
    pg_cluster: str, postgres: PostgresServer, smollm2_file: object
) -> None:
    url = _database(postgres)
    result = subprocess.run(
        [sys.executable, "-m", "gapbench", "run", "--ray", pg_cluster,
         "--model", "smollm2-135m-instruct", "--task", "arith", "--n", "4",
         "--difficulty", "easy", "--max-tokens", "48", "--threads", "1",
         "--prompt-style", "answer-line", "--db", url],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with psycopg.connect(url, password=postgres.password) as conn:
        rows = conn.execute(
            "SELECT r.backend, COUNT(*) FROM gapbench.samples AS s JOIN gapbench.runs AS r "
            "ON r.id = s.run_id WHERE s.error IS NULL GROUP BY r.backend"
        ).fetchall()
    assert rows == [("llamacpp", 4)]
