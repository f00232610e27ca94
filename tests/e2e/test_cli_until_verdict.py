"""`gapbench run --until-verdict` end to end with the scripted backend: a clear lead settles well
before --max-n, level models settle as caught up within a margin or stop at the budget saying
so, a killed run resumes from what is stored without generating anything twice, and bad input
gets one sentence and exit 2 with nothing stored touched."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.helpers import CliInvoke, run_gapbench, stored_samples

STRONG = "scripted:strong?accuracy=0.9"
WEAK = "scripted:weak?accuracy=0.3"
TWIN_A = "scripted:twin_a?accuracy=0.7"
TWIN_B = "scripted:twin_b?accuracy=0.7"
SCRIPTED_CLI = Path(__file__).with_name("scripted_cli.py")


def _rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def _until(db: Path, *args: str) -> list[str]:
    return ["run", "--until-verdict", "--db", str(db), *args]


def test_a_clear_lead_settles_well_before_max_n(cli: CliInvoke, db: Path) -> None:
    result = cli(
        *_until(db, "--model", STRONG, "--model", WEAK, "--task", "arith", "--max-n", "400")
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{STRONG} leads {WEAK} by +" in out
    assert "anytime-valid 95% CS" in out
    assert "Stopped: every pair is settled after" in out
    assert "Sequential verdicts" in out
    assert "Paired verdicts" not in out, "fixed-n verdicts do not hold after looking round by round"
    ((most,),) = _rows(db, "SELECT MAX(instance_index) + 1 FROM samples")
    assert isinstance(most, int) and most <= 35, "a 60-point gap needs a few rounds at most"
    # Every model ran every round: equal counts, indices 0..n-1, one run per model and round.
    counts = _rows(db, "SELECT model_id, COUNT(*), COUNT(DISTINCT instance_index) FROM samples "
                       "GROUP BY model_id")  # fmt: skip
    assert {(c, d) for _, c, d in counts} == {(most, most)}
    assert "Round to 10 instances per task (+10) for 2 models" in result.stderr


def test_three_models_settle_pair_by_pair(cli: CliInvoke, db: Path) -> None:
    mid = "scripted:mid?accuracy=0.6"
    result = cli(
        *_until(db, "--model", STRONG, "--model", WEAK, "--model", mid, "--suite", "quick")
    )
    assert result.exit_code == 0, result.output
    decisions = [line for line in result.stdout.splitlines() if line.startswith("after ")]
    assert len(decisions) == 3
    assert all("Bonferroni over 3 pairs" in line for line in decisions)
    first = int(decisions[0].split()[1])
    last = int(decisions[-1].split()[1])
    assert first < last, "the widest gap settles first"
    # A model whose pairs are all settled stops drawing: weak ran fewer instances.
    counts = dict(_rows(db, "SELECT model_id, MAX(instance_index) + 1 FROM samples GROUP BY 1"))
    assert counts[WEAK] < counts[STRONG] == counts[mid] == last


def test_level_models_settle_as_caught_up_within_the_margin(cli: CliInvoke, db: Path) -> None:
    result = cli(*_until(db, "--model", TWIN_A, "--model", TWIN_B, "--task", "arith",
                         "--margin", "20", "--max-n", "400"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{TWIN_A} has caught up with {TWIN_B}: the gap is within ±20.0 pts" in result.stdout
    # The tests against a gap of ±20 pts or more settle it a round before the confidence
    # sequence lies inside ±20, and the sentence says so.
    assert "Stopped: every pair is settled after 122 instances per task." in result.stdout
    assert "e-values" in result.stdout
    assert "the CS, built for width, still reaches past ±20.0 pts" in result.stdout


def test_level_models_stop_at_max_n_with_the_reason(cli: CliInvoke, db: Path) -> None:
    result = cli(*_until(db, "--model", TWIN_A, "--model", TWIN_B, "--task", "arith",
                         "--max-n", "60"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "Stopped: reached --max-n 60 instances per task with 1 of 1 pairs unsettled."
        in result.stdout
    )
    assert "cannot yet tell who leads, nor whether the gap" in result.stdout
    assert "[not settled]" in result.stdout
    assert _rows(db, "SELECT MAX(instance_index) + 1 FROM samples") == [(60,)]


def test_dollar_budget_stops_before_a_round_it_cannot_pay(cli: CliInvoke, db: Path) -> None:
    # At $3,600 an hour a 10 ms sample costs about a cent: $0.50 pays for a few rounds of two.
    slow_a, slow_b = f"{TWIN_A}&delay=0.01", f"{TWIN_B}&delay=0.01"
    result = cli(*_until(db, "--model", slow_a, "--model", slow_b, "--task", "arith",
                         "--max-usd", "0.5", "--usd-per-hour", "3600"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "past --max-usd 0.5; stopped after" in result.stdout, result.stdout
    ((samples,),) = _rows(db, "SELECT COUNT(*) FROM samples")
    assert isinstance(samples, int) and 20 <= samples < 100


def test_minute_budget_stops_the_run(cli: CliInvoke, db: Path) -> None:
    slow_a, slow_b = f"{TWIN_A}&delay=0.02", f"{TWIN_B}&delay=0.02"
    result = cli(*_until(db, "--model", slow_a, "--model", slow_b, "--task", "arith",
                         "--max-minutes", "0.02"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--max-minutes 0.02" in result.stdout, result.stdout
    ((most,),) = _rows(db, "SELECT MAX(instance_index) + 1 FROM samples")
    assert isinstance(most, int) and most <= 35


# --- kill and resume ---------------------------------------------------------------------------

CLOSE_A = "scripted:close_a?accuracy=0.8&delay=0.004"
CLOSE_B = "scripted:close_b?accuracy=0.6&delay=0.004"


def test_a_killed_run_resumes_from_what_is_stored(tmp_path: Path) -> None:
    args = ["--model", CLOSE_A, "--model", CLOSE_B, "--task", "arith", "--max-n", "400"]
    log = tmp_path / "generations.log"
    env = {**os.environ, "GAPBENCH_TEST_GENERATIONS": str(log), "COLUMNS": "200"}

    # The same command run to the end in a database of its own: what the resumed run must say.
    fresh = tmp_path / "fresh.db"
    whole = subprocess.run(
        [sys.executable, str(SCRIPTED_CLI), *_until(fresh, *args)],
        capture_output=True, text=True, env={**env, "GAPBENCH_TEST_GENERATIONS": ""}, timeout=300,
    )  # fmt: skip
    assert whole.returncode == 0, whole.stderr
    total = stored_samples(fresh)
    assert total > 150, "the gap should take several rounds to settle"

    db = tmp_path / "results.db"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTED_CLI), *_until(db, *args)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while stored_samples(db) < total // 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = stored_samples(db)
    assert 0 < killed_at < total, "the run should have been killed mid-way"

    resumed = subprocess.run(
        [sys.executable, str(SCRIPTED_CLI), *_until(db, *args)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    # Nothing stored was generated again: the two processes together made each sample once,
    # but for the chunk in flight at the kill (8 samples, scheduler.chunk_size). Request ids
    # name the instance, not the model: each appears once per model in each process.
    lines = [line.split() for line in log.read_text().splitlines()]
    by_process = Counter(pid for pid, _ in lines)
    assert len(by_process) == 2
    assert stored_samples(db) == total
    assert total <= len(lines) <= total + 8, "at most the chunk in flight is redone"
    for pid in by_process:
        per_request = Counter(request for p, request in lines if p == pid)
        assert max(per_request.values()) <= 2
    # The resumed run reaches the same verdicts, at the same rounds, as the uninterrupted one.
    decisions = [line for line in whole.stdout.splitlines() if line.startswith(("after", "Stop"))]
    assert decisions
    assert [
        line for line in resumed.stdout.splitlines() if line.startswith(("after", "Stop"))
    ] == decisions


def test_a_rerun_of_a_finished_run_generates_nothing(cli: CliInvoke, db: Path) -> None:
    args = _until(db, "--model", STRONG, "--model", WEAK, "--suite", "quick")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    before = _rows(db, "SELECT COUNT(*), (SELECT COUNT(*) FROM runs) FROM samples")
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert _rows(db, "SELECT COUNT(*), (SELECT COUNT(*) FROM runs) FROM samples") == before
    decided = [line for line in first.stdout.splitlines() if line.startswith("after ")]
    assert decided and decided == [
        line for line in again.stdout.splitlines() if line.startswith("after ")
    ]


# --- bad input ---------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def stored_db(cli: CliInvoke, db: Path) -> Path:
    result = cli("run", "--model", STRONG, "--model", WEAK, "--task", "arith", "--n", "5",
                 "--db", str(db))  # fmt: skip
    assert result.exit_code == 0, result.output
    return db


BAD = [
    (["--until-verdict", "--margin", "-1"], "--margin -1 is not a gap in points"),
    (["--until-verdict", "--margin", "0"], "--margin 0 is not a gap in points"),
    (["--until-verdict", "--margin", "100.5"], "give one above 0 and at most 100"),
    (["--until-verdict", "--margin", "nan"], "--margin nan is not a gap in points"),
    (["--until-verdict", "--max-n", "0"], "--max-n 0 leaves no instance to draw"),
    (["--until-verdict", "--max-n", "-5"], "--max-n -5 leaves no instance to draw"),
    (["--until-verdict", "--max-n", "2000000"], "--max-n 2,000,000 is out of range"),
    (["--until-verdict", "--max-usd", "0"], "--max-usd 0 leaves nothing to spend"),
    (["--until-verdict", "--max-minutes", "0"], "--max-minutes 0 leaves nothing to spend"),
    (["--until-verdict", "--max-minutes", "-2"], "--max-minutes -2 leaves nothing to spend"),
    (["--until-verdict", "--max-usd", "inf"], "--max-usd inf is not a number of dollars"),
    (["--until-verdict", "--n", "50"], "drop --n, and cap the instances per task with --max-n"),
    (["--margin", "5"], "add --until-verdict, or judge stored results with `gapbench compare"),
    (["--max-n", "100"], "--max-n is a budget of --until-verdict"),
    (["--max-usd", "1", "--max-minutes", "3"], "--max-usd and --max-minutes are budgets"),
]


@pytest.mark.parametrize(("extra", "phrase"), BAD, ids=[" ".join(e) for e, _ in BAD])
def test_bad_input_is_one_sentence_and_exit_2(
    cli: CliInvoke, stored_db: Path, extra: list[str], phrase: str
) -> None:
    before = _digest(stored_db)
    result = cli("run", "--model", STRONG, "--model", WEAK, "--task", "arith",
                 "--db", str(stored_db), *extra)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert phrase in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert _digest(stored_db) == before


@pytest.mark.parametrize(
    "models",
    [[STRONG], [STRONG, STRONG]],
    ids=["one model", "the same model twice"],
)
def test_until_verdict_needs_two_models(cli: CliInvoke, db: Path, models: list[str]) -> None:
    flags = [arg for model in models for arg in ("--model", model)]
    result = cli("run", "--until-verdict", *flags, "--task", "arith", "--db", str(db))
    assert result.exit_code == 2, result.output
    assert "give at least two different --model" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not db.exists(), "nothing is created"


def test_bad_input_through_a_real_process(db: Path) -> None:
    result = run_gapbench("run", "--until-verdict", "--model", STRONG, "--model", WEAK,
                          "--task", "arith", "--margin", "0", "--db", str(db))  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --margin 0 is not a gap in points: give one above 0 and at most 100, "
        "e.g. --margin 5."
    ]
    assert not db.exists()
