"""The four kinds of paired verdict end to end: `compare --margin` and `run`'s pairwise verdicts
through the CLI with scripted models, the JSON checked against plain SQL, Holm across pairs, and
bad margins refused with one sentence, exit 2, the database untouched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from tests.helpers import CliInvoke, run_gapbench

STRONG = "scripted:strong?accuracy=0.9"
WEAK = "scripted:weak?accuracy=0.3"
PERFECT_A = "scripted:perfect_a?accuracy=1"
PERFECT_B = "scripted:perfect_b?accuracy=1"
CLOSE_A = "scripted:close_a?accuracy=0.6"
CLOSE_B = "scripted:close_b?accuracy=0.55"


def _run(cli: CliInvoke, db: Path, n: int, *models: str) -> str:
    args = [arg for model in models for arg in ("--model", model)]
    result = cli("run", *args, "--task", "arith", "--n", str(n), "--db", str(db),
                 env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


def _compare(cli: CliInvoke, db: Path, a: str, b: str, *extra: str) -> dict[str, object]:
    result = cli("compare", a, b, "--json", "--db", str(db), *extra)
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def _discordant(db: Path, a: str, b: str) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT x.correct, y.correct FROM samples x JOIN samples y "
            "ON x.task = y.task AND x.instance_index = y.instance_index AND x.seed = y.seed "
            "WHERE x.model_id = ? AND y.model_id = ? AND x.draw = 0 AND y.draw = 0",
            (a, b),
        ).fetchall()
    return len(rows), sum(1 for x, y in rows if x and not y), sum(1 for x, y in rows if y and not x)


def test_a_clear_lead_is_ahead_and_behind_from_the_other_side(cli: CliInvoke, db: Path) -> None:
    _run(cli, db, 60, STRONG, WEAK)
    ahead = _compare(cli, db, STRONG, WEAK)
    behind = _compare(cli, db, WEAK, STRONG)
    n, only_a, only_b = _discordant(db, STRONG, WEAK)
    assert (ahead["n_paired"], ahead["only_a"], ahead["only_b"]) == (n, only_a, only_b)
    assert ahead["kind"] == "ahead" and behind["kind"] == "behind"
    assert str(ahead["verdict"]).startswith(f"{STRONG} leads {WEAK} by +")
    assert ahead["margin"] == pytest.approx(0.05)
    assert ahead["more_instances"] is None


def test_identical_perfect_models_have_caught_up(cli: CliInvoke, db: Path) -> None:
    _run(cli, db, 200, PERFECT_A, PERFECT_B)
    result = _compare(cli, db, PERFECT_A, PERFECT_B)
    assert result["kind"] == "equivalent"
    assert str(result["verdict"]).startswith(
        f"{PERFECT_A} has caught up with {PERFECT_B}: the gap is within ±5.0 pts"
    )
    # A narrower margin than the data can show is not 'equivalent' but 'not yet known'.
    tight = _compare(cli, db, PERFECT_A, PERFECT_B, "--margin", "0.5")
    assert tight["kind"] == "inconclusive"
    assert tight["margin"] == pytest.approx(0.005)
    assert isinstance(tight["more_instances"], int) and tight["more_instances"] > 0
    text = cli("compare", PERFECT_A, PERFECT_B, "--margin", "0.5", "--db", str(db),
               env={"COLUMNS": "300"}).stdout  # fmt: skip
    assert "cannot yet tell whether the gap" in text and "under 0.5 pts" in text
    assert "more paired instances would settle it" in text


def test_run_reports_every_pair_with_holm(cli: CliInvoke, db: Path) -> None:
    out = " ".join(_run(cli, db, 30, STRONG, CLOSE_A, CLOSE_B).split())
    assert "Holm-adjusted over 3 pairs" in out
    assert "caught up: the 90% CI inside ±5.0 pts" in out
    assert f"cannot yet tell whether the gap between {CLOSE_A} and {CLOSE_B}" in out


@pytest.mark.parametrize("margin", ["0", "-3", "100.5", "inf", "nan"])
def test_bad_margin_is_refused_untouched(cli: CliInvoke, db: Path, margin: str) -> None:
    _run(cli, db, 5, STRONG, WEAK)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    result = run_gapbench("compare", STRONG, WEAK, "--margin", margin, "--db", str(db))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert (
        "--margin" in result.stderr
        and "is not a gap in points: give one above 0 and at most 100" in result.stderr
    )
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_run_ends_with_the_cn_vs_us_line_when_both_origins_ran(cli: CliInvoke, db: Path) -> None:
    cn = "scripted:qwenlike?accuracy=0.8&origin=CN&released=2025-01-20"
    us = "scripted:llamalike?accuracy=0.4&origin=US&released=2024-07-23"
    out = " ".join(_run(cli, db, 60, cn, us, WEAK).split())
    line = out[out.index("CN vs US:") :]
    assert line.startswith(f"CN vs US: best CN {cn} (")
    assert f"minus best US {us} (" in line
    assert "best re-selected in every resample, n=60): CN ahead" in line
    # Without a model of each origin there is no such line.
    assert "CN vs US:" not in _run(cli, db, 10, STRONG, WEAK)
