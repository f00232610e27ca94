"""`gapbench gap` and the leaderboard's rank intervals, end to end through the CLI with scripted
models that carry an origin and a release date. Gaps are recomputed from the database with plain
sqlite3; bad input is one sentence, exit 2, the database untouched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest
from tests.helpers import CliInvoke, run_gapbench

CN_OLD = "scripted:dslike?accuracy=0.45&origin=CN&released=2024-12-26"
CN_NEW = "scripted:qwenlike?accuracy=0.7&origin=CN&released=2025-01-20"
US_OLD = "scripted:llamalike?accuracy=0.6&origin=US&released=2024-07-23"
US_NEW = "scripted:gptlike?accuracy=0.75&origin=US&released=2025-04-14"
OTHER = "scripted:mistrallike?accuracy=0.9&origin=FR"
ORIGIN = {CN_OLD: "CN", CN_NEW: "CN", US_OLD: "US", US_NEW: "US"}


def _run(cli: CliInvoke, db: Path, *models: str, n: int = 30) -> None:
    args = [arg for model in models for arg in ("--model", model)]
    result = cli("run", *args, "--task", "arith,logic", "--n", str(n), "--db", str(db))
    assert result.exit_code == 0, result.output


@pytest.fixture
def gap_db(cli: CliInvoke, db: Path) -> Path:
    _run(cli, db, CN_OLD, CN_NEW, US_OLD, US_NEW, OTHER)
    return db


def _correct(db: Path) -> dict[str, dict[tuple[str, int], bool]]:
    """model -> (task, index) -> correct, read with plain SQL."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT model_id, task, instance_index, correct FROM samples "
            "WHERE error IS NULL AND draw = 0"
        ).fetchall()
    out: dict[str, dict[tuple[str, int], bool]] = defaultdict(dict)
    for model, task, index, correct in rows:
        out[model][(task, index)] = bool(correct)
    return out


def _gap(correct: dict[str, dict[tuple[str, int], bool]], models: list[str], task: str | None):
    """(best CN, best US, CN - US) on the instances all `models` answered."""
    shared = set.intersection(*(set(correct[m]) for m in models))
    if task is not None:
        shared = {k for k in shared if k[0] == task}
    acc = {m: sum(correct[m][k] for k in shared) / len(shared) for m in models}
    cn = max((m for m in models if ORIGIN[m] == "CN"), key=lambda m: acc[m])
    us = max((m for m in models if ORIGIN[m] == "US"), key=lambda m: acc[m])
    return cn, us, acc[cn] - acc[us]


def test_gap_json_matches_the_database(cli: CliInvoke, gap_db: Path) -> None:
    result = cli("gap", "--json", "--db", str(gap_db))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    correct = _correct(gap_db)
    compared = [CN_OLD, CN_NEW, US_OLD, US_NEW]
    for row in [*report["tasks"], report["overall"]]:
        task = None if row["task"] == "overall" else row["task"]
        cn, us, diff = _gap(correct, compared, task)
        assert row["best"]["CN"]["model"] == cn
        assert row["best"]["US"]["model"] == us
        assert row["diff"] == pytest.approx(diff, abs=1e-12)
        low, high = row["ci95"]
        assert low <= row["ci90"][0] <= row["diff"] <= row["ci90"][1] <= high
        assert row["kind"] in {"ahead", "behind", "equivalent", "inconclusive"}
    assert [row["task"] for row in report["tasks"]] == ["arith", "logic"]
    assert report["overall"]["n_shared"] == 60
    assert report["left_out"] == [OTHER]
    assert {m["model"]: m["origin"] for m in report["models"]}[CN_NEW] == "CN"
    # One timeline row per release date; each uses only the models released by then.
    timeline = report["timeline"]
    assert [row["as_of"] for row in timeline] == [
        "2024-07-23",
        "2024-12-26",
        "2025-01-20",
        "2025-04-14",
    ]
    assert timeline[0]["diff"] is None and timeline[0]["note"].startswith("no CN model")
    for row, models in [
        (timeline[1], [CN_OLD, US_OLD]),
        (timeline[2], [CN_OLD, CN_NEW, US_OLD]),
        (timeline[3], compared),
    ]:
        shared_by_all = set.intersection(*(set(correct[m]) for m in compared))
        acc = {m: sum(correct[m][k] for k in shared_by_all) / 60 for m in models}
        best_cn = max(acc[m] for m in models if ORIGIN[m] == "CN")
        best_us = max(acc[m] for m in models if ORIGIN[m] == "US")
        assert row["diff"] == pytest.approx(best_cn - best_us, abs=1e-12)
    assert timeline[3]["diff"] == report["overall"]["diff"]


def test_gap_table_and_margin(cli: CliInvoke, gap_db: Path) -> None:
    result = cli("gap", "--task", "arith", "--margin", "3", "--db", str(gap_db))
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "Best CN against best US" in out
    assert "90% CI lies inside ±3.0 pts" in out
    assert "as of each release date" in out
    assert "logic" not in out.split("Not compared")[0]
    payload = json.loads(cli("gap", "--task", "arith", "--margin", "3", "--json", "--db",
                             str(gap_db)).stdout)  # fmt: skip
    assert payload["margin"] == pytest.approx(0.03)
    assert [row["task"] for row in payload["tasks"]] == ["arith"]


def test_gap_without_models_of_one_origin_is_refused_untouched(cli: CliInvoke, db: Path) -> None:
    _run(cli, db, US_OLD, US_NEW, OTHER, n=5)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    result = run_gapbench("gap", "--db", str(db))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("Error: No CN model has results")
    assert "gapbench run --model qwen2.5-coder-0.5b-instruct" in message
    assert message.count("\n") == 0 and message.endswith(".")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("margin", ["0", "-1", "nan", "101", "x"])
def test_bad_margin_is_a_usage_error(gap_db: Path, margin: str) -> None:
    result = run_gapbench("gap", "--margin", margin, "--db", str(gap_db))
    assert result.returncode == 2, result.stderr
    assert "--margin" in result.stderr and "Traceback" not in result.stderr


def test_leaderboard_shows_rank_intervals(cli: CliInvoke, gap_db: Path) -> None:
    rows = json.loads(cli("leaderboard", "--json", "--db", str(gap_db)).stdout)
    overall = [row for row in rows if row["task"] == "overall"]
    assert len(overall) == 5
    for row in overall:
        assert 1 <= row["rank_low"] <= row["rank"] <= row["rank_high"] <= 5
        assert row["rank_instances"] == 60
    assert all(row["rank"] is None for row in rows if row["task"] != "overall")
    table = cli("leaderboard", "--db", str(gap_db), env={"COLUMNS": "100"}).stdout
    assert table.split("\n")[2].split()[0] == "rank"
    assert "rank: 95% interval" in " ".join(table.split())
