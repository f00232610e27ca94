"""Four `gapbench run` processes with overlapping plans over 10,000 samples against one PostgreSQL
database, one of them SIGKILLed midway: the database ends with exactly the 10,000 samples, none
twice, none lost, and every sample was generated once among the runners that lived (counted by
the backend itself, in every process); the killed runner's command, run again, finishes what only
it had planned."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.store.postgres_server import PostgresServer

MODEL = "scripted:shared?accuracy=0.6"
N = 5000
CLI = Path(__file__).parents[1] / "e2e" / "scripted_cli.py"


def _count(url: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            return int(conn.execute(sql, params).fetchone()[0])  # type: ignore[index]
    except psycopg.errors.UndefinedTable:  # the first runner has not migrated yet
        return 0


def _start(url: str, log: Path, tasks: str, n: int, *, via_env: bool = False) -> Any:
    args = ["run", "--model", MODEL, "--task", tasks, "--n", str(n)]
    env = {**os.environ, "GAPBENCH_TEST_GENERATIONS": str(log), "COLUMNS": "200"}
    if via_env:
        env["GAPBENCH_DB"] = url
    else:
        args += ["--db", url]
    # Output to files, not pipes: nothing reads a pipe while the runners run, and a full one
    # would stall its runner.
    out = log.with_name(f"out-{time.monotonic_ns()}")
    with open(out, "w") as stdout, open(out.with_suffix(".err"), "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(CLI), *args], stdout=stdout, stderr=stderr, env=env
        )
    proc.outputs = (out, out.with_suffix(".err"))  # type: ignore[attr-defined]
    return proc


def _finish(proc: Any, timeout: float = 600) -> tuple[str, str]:
    proc.wait(timeout)
    return tuple(path.read_text() for path in proc.outputs)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("pg-runners")
    url, log = postgres.create_database(), tmp / "generations.log"
    victim = _start(url, log, "arith,logic", N)  # all 10,000
    survivors = [
        _start(url, log, "arith", N, via_env=True),
        _start(url, log, "logic", N - 1000),  # logic 4000..4999: the victim's plan alone
        _start(url, log, "logic,arith", N // 2),
    ]
    stored_by = "SELECT COUNT(*) FROM gapbench.samples s JOIN gapbench.runs r ON r.id = s.run_id"
    deadline = time.monotonic() + 300
    while _count(url, stored_by + " WHERE r.pid = %s", (victim.pid,)) < 300:
        assert time.monotonic() < deadline, "the victim stored nothing in time"
        assert victim.poll() is None, _finish(victim)
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    outputs = [_finish(proc) for proc in survivors]
    for proc, (_, stderr) in zip(survivors, outputs, strict=True):
        assert proc.returncode == 0, stderr
    before_rerun = _count(url, "SELECT COUNT(*) FROM gapbench.samples")
    rerun = _start(url, log, "arith,logic", N)
    outputs.append(_finish(rerun))
    assert rerun.returncode == 0, outputs[-1][1]
    return {
        "url": url,
        "log": log,
        "victim": victim.pid,
        "others": [p.pid for p in [*survivors, rerun]],
        "before_rerun": before_rerun,
        "outputs": outputs,
        "password": postgres.password,
    }


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def test_exactly_the_planned_samples_are_stored_once(shared: dict[str, Any]) -> None:
    url = shared["url"]
    (total, distinct, failed), = _rows(
        url,
        "SELECT COUNT(*), COUNT(DISTINCT (task, instance_index, draw, settings_hash)), "
        "COUNT(error) FROM gapbench.samples",
    )  # fmt: skip
    assert (total, distinct, failed) == (2 * N, 2 * N, 0)
    per_task = _rows(
        url,
        "SELECT task, COUNT(*), MIN(instance_index), MAX(instance_index) FROM gapbench.samples "
        "GROUP BY task ORDER BY task",
    )
    assert per_task == [("arith", N, 0, N - 1), ("logic", N, 0, N - 1)]
    assert _rows(url, "SELECT COUNT(*) FROM gapbench.claims") == [(0,)]
    # Killed midway, and the survivors alone did not plan everything: the rerun had work left.
    assert N + N - 1000 <= shared["before_rerun"] < 2 * N


def test_every_sample_was_generated_once_among_the_living(shared: dict[str, Any]) -> None:
    from gapbench.tasks.prompts import request_id
    from gapbench.tasks.registry import get_task

    url, victim = shared["url"], shared["victim"]
    by_victim = set(
        _rows(
            url,
            "SELECT s.task, s.instance_index FROM gapbench.samples s "
            f"JOIN gapbench.runs r ON r.id = s.run_id WHERE r.pid = {victim}",
        )
    )
    assert by_victim, "the killed runner stored samples before it died"
    lines = [line.split() for line in shared["log"].read_text().splitlines()]
    living = collections.Counter(rid for pid, rid in lines if int(pid) != victim)
    assert {int(pid) for pid, _ in lines} <= {victim, *shared["others"]}
    for task in ("arith", "logic"):
        for index in range(N):
            rid = request_id(get_task(task).instance(0, index, "medium"))
            want = 0 if (task, index) in by_victim else 1
            assert living[rid] == want, (task, index, living[rid])
    workers = {int(pid) for pid, _ in lines if int(pid) != victim}
    assert len(workers) >= 3, "the work was shared"


def test_runs_end_truthfully_and_no_password_is_anywhere(shared: dict[str, Any]) -> None:
    url, secret = shared["url"], shared["password"]
    runs = dict(_rows(url, "SELECT pid, status FROM gapbench.runs"))
    assert runs[shared["victim"]] == "interrupted"
    assert all(runs[pid] == "completed" for pid in shared["others"])
    for stdout, stderr in shared["outputs"]:
        assert secret not in stdout + stderr
    commands = _rows(url, "SELECT command, sampling, host FROM gapbench.runs")
    assert len(commands) == 5 and all(secret not in repr(row) for row in commands)
