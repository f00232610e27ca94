"""Prompt styles and phrasings through the CLI (scripted backend): what is stored per sample, the
accuracy spread across phrasings, verdicts that say how a gap moves, resume, and bad values."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.helpers import CliInvoke

from gapbench.tasks.prompts import ANSWER_LINE, REASONING, chat_text
from gapbench.tasks.registry import get_task

A, B = "scripted:a?accuracy=0.7", "scripted:b?accuracy=0.4"
N = 15


def _rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def _run(cli: CliInvoke, db: Path, *extra: str) -> str:
    result = cli("run", "--model", A, "--model", B, "--task", "arith", "--n", str(N),
                 "--db", str(db), *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def test_the_default_style_asks_for_reasoning_and_a_boxed_answer(cli: CliInvoke, db: Path) -> None:
    _run(cli, db)
    task = get_task("arith")
    stored = _rows(db, "SELECT instance_index, prompt, prompt_style, prompt_variant FROM samples "
                   "WHERE model_id = ?", A)  # fmt: skip
    assert len(stored) == N
    for index, prompt, style, variant in stored:
        instance = task.instance(0, int(str(index)), "medium")
        [message] = json.loads(str(prompt))
        assert message["content"] == chat_text(task, instance, REASONING)
        assert (style, variant) == ("chat-reasoning", 0)
    [(sampling,)] = _rows(db, "SELECT sampling FROM runs WHERE model_id = ?", A)
    assert json.loads(str(sampling))["prompt_style"] == REASONING


def test_the_answer_line_style_keeps_the_old_prompts_and_their_samples(
    cli: CliInvoke, db: Path
) -> None:
    _run(cli, db, "--prompt-style", "answer-line")
    task = get_task("arith")
    [(prompt, style)] = _rows(
        db, "SELECT prompt, prompt_style FROM samples WHERE model_id = ? AND instance_index = 0", A
    )
    instance = task.instance(0, 0, "medium")
    assert json.loads(str(prompt))[0]["content"] == chat_text(task, instance, ANSWER_LINE)
    assert json.loads(str(prompt))[0]["content"] == task.chat_prompt(instance)
    assert style == "chat"  # the style name samples were stored under before styles existed


def test_phrasings_are_stored_apart_and_their_spread_is_reported(cli: CliInvoke, db: Path) -> None:
    output = _run(cli, db, "--prompt-variants", "3")
    per_variant = _rows(db, "SELECT prompt_variant, COUNT(*), COUNT(DISTINCT prompt), "
                        "COUNT(DISTINCT settings_hash) FROM samples WHERE model_id = ? "
                        "GROUP BY 1 ORDER BY 1", A)  # fmt: skip
    assert per_variant == [(0, N, N, 1), (1, N, N, 1), (2, N, N, 1)]
    assert _rows(db, "SELECT COUNT(DISTINCT settings_hash) FROM samples WHERE model_id = ?", A) == [
        (3,)
    ]
    assert "spread" in output and "across 3 phrasings of the prompt" in output

    board = cli("leaderboard", "--db", str(db), "--json")
    assert board.exit_code == 0, board.output
    rows = {(r["model"], r["task"]): r for r in json.loads(board.stdout)}
    row = rows[(A, "arith")]
    # Each phrasing's accuracy, recomputed from the stored rows.
    expected = {
        str(style): float(str(mean))
        for style, mean in _rows(
            db, "SELECT prompt_style, AVG(correct) FROM samples WHERE model_id = ? GROUP BY 1", A
        )
    }
    assert set(row["phrasings"]) == {"chat-reasoning", "chat-reasoning-v1", "chat-reasoning-v2"}
    for name, accuracy in row["phrasings"].items():
        assert abs(accuracy - expected[name]) < 1e-12
    spread = max(expected.values()) - min(expected.values())
    assert abs(row["phrasing_spread"] - spread) < 1e-12

    compare = cli("compare", A, B, "--db", str(db), "--json")
    assert compare.exit_code == 0, compare.output
    verdict = json.loads(compare.stdout)
    verdict = verdict[0] if isinstance(verdict, list) else verdict
    # The verdict itself pairs the first phrasing only: one pair per instance.
    assert verdict["n_paired"] == N
    gaps = verdict["phrasing_gaps"]
    assert set(gaps) == set(expected)
    for name, gap in gaps.items():
        mine = _rows(db, "SELECT AVG(correct) FROM samples WHERE model_id = ? AND prompt_style = ?",
                     A, name)[0][0]  # fmt: skip
        theirs = _rows(db, "SELECT AVG(correct) FROM samples WHERE model_id = ? "
                       "AND prompt_style = ?", B, name)[0][0]  # fmt: skip
        assert abs(gap - (float(str(mine)) - float(str(theirs)))) < 1e-12


def test_more_phrasings_add_only_the_missing_ones(cli: CliInvoke, db: Path) -> None:
    _run(cli, db, "--prompt-variants", "2")
    before = _rows(db, "SELECT COUNT(*) FROM samples")[0][0]
    _run(cli, db, "--prompt-variants", "2")
    assert _rows(db, "SELECT COUNT(*) FROM samples")[0][0] == before
    _run(cli, db, "--prompt-variants", "3")
    assert _rows(db, "SELECT COUNT(*) FROM samples")[0][0] == before + 2 * N
    assert _rows(db, "SELECT MAX(prompt_variant) FROM samples") == [(2,)]


def test_a_task_with_one_phrasing_is_asked_once(cli: CliInvoke, db: Path) -> None:
    result = cli("run", "--model", "scripted:coder?accuracy=1", "--task", "humaneval", "--n", "2",
                 "--prompt-variants", "3", "--db", str(db))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _rows(db, "SELECT COUNT(*), MAX(prompt_variant) FROM samples") == [(2, 0)]
    methods = {m for (m,) in _rows(db, "SELECT score_method FROM samples")}
    assert methods == {"completion:passed"}, methods  # the scripted coder continues the prompt


def test_bad_prompt_settings_are_usage_errors(cli: CliInvoke, db: Path) -> None:
    for extra in (["--prompt-variants", "6"], ["--prompt-variants", "0"],
                  ["--prompt-style", "telepathy"]):  # fmt: skip
        result = cli("run", "--model", A, "--task", "arith", "--n", "2", "--db", str(db), *extra)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
    assert not db.exists()
