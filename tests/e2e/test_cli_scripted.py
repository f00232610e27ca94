"""End to end through the CLI with the deterministic scripted backend: run, resume, leaderboard,
compare. Figures are checked against the database read with plain sqlite3 and against scipy."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
from scipy.stats import binomtest
from tests.helpers import CliInvoke

GOOD = "scripted:good?accuracy=0.85&noanswer=0.05"
WEAK = "scripted:weak?accuracy=0.35&noanswer=0.1"


def _rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def filled_db(cli: CliInvoke, db: Path) -> Path:
    result = cli(
        "run", "--model", GOOD, "--model", WEAK, "--suite", "quick", "--n", "40", "--db", str(db)
    )
    assert result.exit_code == 0, result.output
    return db


def test_run_stores_one_row_per_sample(filled_db: Path) -> None:
    rows = _rows(
        filled_db,
        "SELECT model_id, task, COUNT(*), COUNT(DISTINCT instance_index) FROM samples "
        "GROUP BY 1, 2",
    )
    assert sorted((m, t) for m, t, _, _ in rows) == sorted(
        (m, t) for m in (GOOD, WEAK) for t in ("arith", "logic", "zh_arith")
    )
    assert all(count == 40 and distinct == 40 for _, _, count, distinct in rows)
    runs = _rows(filled_db, "SELECT model_id, status, backend, gapbench_version FROM runs")
    assert sorted(r[0] for r in runs) == sorted([GOOD, WEAK])
    assert {r[1] for r in runs} == {"completed"}
    assert {r[2] for r in runs} == {"scripted"}


def test_repeated_task_and_suite_flags_name_every_task(cli: CliInvoke, db: Path) -> None:
    """`--task arith --task logic` is the list `--task arith,logic` (it once kept the last one
    only, silently), for the commands that run and those that read; so is a repeated --suite."""
    result = cli("run", "--model", GOOD, "--task", "arith", "--task", "logic,boolean",
                 "--n", "5", "--db", str(db))  # fmt: skip
    assert result.exit_code == 0, result.output
    tasks = {t for (t,) in _rows(db, "SELECT DISTINCT task FROM samples")}
    assert tasks == {"arith", "logic", "boolean"}
    board = cli("leaderboard", "--task", "arith", "--task", "boolean", "--db", str(db), "--json")
    assert board.exit_code == 0, board.output
    rows = json.loads(board.stdout)
    assert {row["task"] for row in rows} == {"overall", "arith", "boolean"}
    (overall,) = (row for row in rows if row["task"] == "overall")
    assert overall["n"] == 10
    # Likewise --suite: quick (arith, logic, zh_arith) and logic (logic, knights, boolean, lists).
    board = cli("leaderboard", "--suite", "quick", "--suite", "logic", "--db", str(db), "--json")
    assert board.exit_code == 0, board.output
    assert {row["task"] for row in json.loads(board.stdout)} == {
        "overall", "arith", "logic", "boolean"
    }  # fmt: skip


def test_rerun_resumes_and_adds_nothing(cli: CliInvoke, filled_db: Path) -> None:
    before = _rows(filled_db, "SELECT COUNT(*) FROM samples")[0][0]
    result = cli("run", "--model", GOOD, "--suite", "quick", "--n", "40", "--db", str(filled_db))
    assert result.exit_code == 0, result.output
    assert _rows(filled_db, "SELECT COUNT(*) FROM samples")[0][0] == before
    # A larger --n runs only the new indices.
    result = cli("run", "--model", GOOD, "--task", "arith", "--n", "45", "--db", str(filled_db))
    assert result.exit_code == 0, result.output
    counts = _rows(
        filled_db,
        "SELECT COUNT(*), COUNT(DISTINCT instance_index) FROM samples "
        "WHERE model_id=? AND task='arith'",
        GOOD,
    )
    assert counts == [(45, 45)]


def test_leaderboard_json_matches_database(cli: CliInvoke, filled_db: Path) -> None:
    result = cli("leaderboard", "--json", "--db", str(filled_db))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    expected_keys = {
        "model",
        "task",
        "n",
        "accuracy",
        "ci_low",
        "ci_high",
        "extraction_failure_rate",
        "tokens_per_s",
    }
    assert all(expected_keys <= set(row) for row in rows)
    for row in rows:
        where = "model_id=?" + ("" if row["task"] == "overall" else " AND task=?")
        params = [row["model"]] + ([] if row["task"] == "overall" else [row["task"]])
        n, correct, no_answer = _rows(
            filled_db,
            f"SELECT COUNT(*), SUM(correct), SUM(1 - extraction_ok) FROM samples WHERE {where}",
            *params,
        )[0]
        assert row["n"] == n
        assert row["accuracy"] == pytest.approx(correct / n)
        assert row["extraction_failure_rate"] == pytest.approx(no_answer / n)
        ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-9)
    # The better model is ranked first.
    assert rows[0]["model"] == GOOD and rows[0]["task"] == "overall"


def test_compare_json_matches_scipy(cli: CliInvoke, filled_db: Path) -> None:
    result = cli("compare", GOOD, WEAK, "--suite", "quick", "--json", "--db", str(filled_db))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    pairs = _rows(
        filled_db,
        """SELECT a.correct, b.correct FROM samples a JOIN samples b
           ON a.task = b.task AND a.instance_index = b.instance_index AND a.seed = b.seed
           WHERE a.model_id = ? AND b.model_id = ?""",
        GOOD,
        WEAK,
    )
    assert payload["n_paired"] == len(pairs) == 120
    only_a = sum(1 for a, b in pairs if a and not b)
    only_b = sum(1 for a, b in pairs if b and not a)
    assert payload["diff"] == pytest.approx((only_a - only_b) / len(pairs))
    assert payload["p_value"] == pytest.approx(
        binomtest(min(only_a, only_b), only_a + only_b).pvalue
    )
    assert payload["ci_low"] < payload["diff"] < payload["ci_high"]
    assert payload["verdict"].startswith(f"{GOOD} leads {WEAK} by +")
    assert math.isfinite(payload["ci_low"])


def test_compare_table_prints_verdict(cli: CliInvoke, filled_db: Path) -> None:
    result = cli("compare", WEAK, GOOD, "--db", str(filled_db))
    assert result.exit_code == 0, result.output
    assert f"{GOOD} leads {WEAK}" in " ".join(result.stdout.split())


def test_run_prints_leaderboard_and_verdict(cli: CliInvoke, db: Path) -> None:
    result = cli(
        "run", "--model", GOOD, "--model", WEAK, "--task", "arith", "--n", "10", "--db", str(db)
    )
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "Results" in flat and "arith" in flat and "Paired verdicts" in flat


def test_leaderboard_leaves_out_older_task_versions(filled_db: Path) -> None:
    """Samples of a task version that is no longer current are kept in the database but left out
    of the figures, with a note saying how many."""
    from tests.helpers import run_gapbench

    with sqlite3.connect(filled_db) as conn:
        conn.execute(
            "UPDATE samples SET task_version = 'old' WHERE task = 'arith' AND instance_index < 10"
        )
    result = run_gapbench("leaderboard", "--json", "--db", str(filled_db))
    assert result.returncode == 0, result.stderr
    rows = {(r["model"], r["task"]): r for r in json.loads(result.stdout)}
    answered = _rows(
        filled_db,
        "SELECT COUNT(*) FROM samples WHERE model_id=? AND task='arith' AND task_version!='old' "
        "AND error IS NULL",
        GOOD,
    )[0][0]
    assert rows[(GOOD, "arith")]["n"] == answered
    assert "20 stored samples of older task versions are left out" in result.stderr
    assert _rows(filled_db, "SELECT COUNT(*) FROM samples WHERE task_version='old'")[0][0] == 20


def test_run_results_are_those_of_the_run_alone(cli: CliInvoke, filled_db: Path) -> None:
    """What `run` prints is the result of what it planned: another seed stored for the same model
    and tasks stays out of it (the leaderboard pools everything), and the JSON of the
    leaderboard carries planned, answered and failed counts."""
    result = cli(
        "run", "--model", GOOD, "--task", "arith", "--n", "7", "--seed", "3", "--db",
        str(filled_db),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("arith"))
    assert line.split()[1] == "7"
    rows = json.loads(
        cli("leaderboard", "--json", "--task", "arith", "--db", str(filled_db)).stdout
    )
    good = next(r for r in rows if r["model"] == GOOD and r["task"] == "arith")
    assert (good["n"], good["answered"], good["planned"], good["failed"]) == (47, 47, 47, 0)
