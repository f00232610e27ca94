"""Terminal tables fit the terminal: at 60, 80 and 120 columns no line is wider than the terminal,
every model id shown is whole on one line, the columns left out are the last ones of the table's
stated order and are named in a note, and --wide shows every column.

The data are what a user has: the catalog's longest ids, scripted refs with query strings and an
OpenAI-compatible URL, scored by scripted models (which run instantly)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from gapbench.cli.main import main
from gapbench.report import console as report
from gapbench.stats.summary import ScoreRow

# The catalog's longest ids, then ids a user types.
CATALOG_IDS = [
    "moonshot/kimi-k2-0905-preview",
    "doubao/doubao-seed-1-6-250615",
    "qwen2.5-coder-0.5b-instruct",
]
TYPED_IDS = [
    "scripted:gptlike?accuracy=0.75&origin=US",
    "openai:http://127.0.0.1:8000/v1#my-model",
]
# The best CN and US models (b, c) are undated, so the timeline compares d and f.
SCRIPTED = [
    "scripted:a?accuracy=0.7",
    "scripted:b?accuracy=0.5&origin=CN",
    "scripted:c?accuracy=0.6&origin=US",
    "scripted:d?accuracy=0.4&origin=CN&released=2024-12-26",
    "scripted:e?accuracy=0.3",
    "scripted:f?accuracy=0.2&origin=US&released=2024-07-23",
]
# Ids that fit whole beside the columns always shown, at each width.
IDS_AT = {60: CATALOG_IDS, 80: CATALOG_IDS + TYPED_IDS, 120: CATALOG_IDS + TYPED_IDS}
# The leaderboard's columns for single draws of one phrasing (no pass@k%, no spread).
BOARD = [h for h in report.LEADERBOARD_ORDER if h not in ("pass@k%", "spread")]
NOTE = re.compile(r"Left out to fit (\d+) columns: (.*?) \(--wide shows every column")


def _invoke(*args: str, width: int) -> str:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("width") / "results.db"
    models = [arg for model in SCRIPTED for arg in ("--model", model)]
    _invoke("run", *models, "--task", "arith,logic", "--n", "20", "--db", str(db), width=200)
    return db


def _table(out: str) -> tuple[list[str], str]:
    """The lines of the first table, from its title to the first line of text after it (table
    lines start with the border's space), and its header line."""
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.strip().startswith("───"))
    end = next((i for i in range(rule, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return lines[:end], lines[rule - 1]


def _dropped(out: str) -> list[str]:
    """The columns the first note names (the one under the first table)."""
    flat = " ".join(out.split())
    found = NOTE.search(flat)
    return [] if found is None else found.group(2).split(", ")


def _shown(header_line: str, header: str) -> bool:
    return f" {header} " in f" {header_line} "


def _check(
    out: str, width: int, order: Sequence[str], always: int, ids: Sequence[str]
) -> list[str]:
    """The checks every table passes; returns the columns left out."""
    table, header_line = _table(out)
    widest = max(cell_len(line) for line in table)
    assert widest <= width, f"a line is {widest} columns wide at {width}:\n{out}"
    dropped = _dropped(out)
    for header in order:
        # Each column is either shown or named in the note, never both, never neither.
        assert _shown(header_line, header) != (header in dropped), (header, header_line, dropped)
    # Only the last columns of the order are left out, and never those always shown.
    kept = [h for h in order if _shown(header_line, h)]
    assert all(order.index(h) >= always for h in dropped)
    assert not dropped or min(order.index(h) for h in dropped) > max(order.index(h) for h in kept)
    for model in ids:
        assert any(model in line for line in table), f"{model} split or missing:\n{out}"
    return dropped


def _rows(db: Path, ids: Sequence[str]) -> list[ScoreRow]:
    """The leaderboard's rows of the scripted run, its models renamed to `ids`."""
    from gapbench.cli.options import load_results
    from gapbench.stats.summary import summarize

    samples, accounting = load_results(str(db), None, None, None)
    rows = summarize(samples, accounting)
    names = dict(zip(dict.fromkeys(row.model for row in rows), ids, strict=False))
    return [replace(row, model=names[row.model]) for row in rows if row.model in names]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_leaderboard_fits(
    width: int, scored: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    report.print_leaderboard(_rows(scored, IDS_AT[width]), "Leaderboard", 0.1)
    out = capsys.readouterr().out
    dropped = _check(out, width, BOARD, 4, IDS_AT[width])
    assert ("fail" in dropped) == (width < 120), dropped
    monkeypatch.setenv("COLUMNS", "80")
    report.print_leaderboard(_rows(scored, IDS_AT[width]), "Leaderboard", 0.1, wide=True)
    wide = capsys.readouterr().out
    assert _check(wide, 10_000, BOARD, 4, IDS_AT[width]) == []


def test_an_id_wider_than_the_terminal_folds_but_keeps_the_scores(
    scored: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    huge = "openai:http://inference.example.internal:8000/v1#org/some-very-long-model-name-v2"
    report.print_leaderboard(_rows(scored, [huge, *CATALOG_IDS]), "Leaderboard", 0.1)
    out = capsys.readouterr().out
    table, header_line = _table(out)
    assert max(cell_len(line) for line in table) <= 60, out
    assert all(_shown(header_line, h) for h in report.LEADERBOARD_ORDER[:4]), header_line
    assert not any(huge in line for line in table)  # folded, as it must be, but not cut short:
    assert huge in "".join(line.split()[0] for line in table[4:] if line.strip())


@pytest.mark.parametrize("width", [60, 80, 120])
def test_models_list_fits(
    width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gapbench.backends.references import resolve_model
    from gapbench.catalog.loader import list_models
    from gapbench.catalog.providers import list_provider_models

    monkeypatch.setenv("COLUMNS", str(width))
    specs = [*list_models(), *list_provider_models(), *map(resolve_model, TYPED_IDS)]
    assert {*CATALOG_IDS} <= {spec.id for spec in specs}
    report.print_models(specs, {}, {})
    out = capsys.readouterr().out
    dropped = _check(out, width, report.MODELS_ORDER, 1, IDS_AT[width])
    assert ("$/M in/out" in dropped) == (width < 120), dropped
    report.print_models(specs, {}, {}, wide=True)
    assert _check(capsys.readouterr().out, 10_000, report.MODELS_ORDER, 1, IDS_AT[width]) == []


@pytest.mark.parametrize("width", [60, 80, 120])
def test_tasks_list_fits(width: int) -> None:
    from gapbench.tasks.registry import list_tasks

    out = _invoke("tasks", "list", width=width)
    _check(out, width, report.TASKS_ORDER, 2, [])
    table, _ = _table(out)
    for task in list_tasks():
        assert any(line.startswith(f" {task.name} ") for line in table), task.name
    wide = _invoke("tasks", "list", "--wide", width=width)
    assert _check(wide, 10_000, report.TASKS_ORDER, 2, []) == []


@pytest.mark.parametrize("width", [60, 80, 120])
def test_gap_fits(width: int, scored: Path) -> None:
    out = _invoke("gap", "--db", str(scored), width=width)
    order = report.gap_order("CN", "US", "task")
    dropped = _check(out, width, order, 4, [])
    # The best models are named whole, one per line, unless their column was left out.
    best = [SCRIPTED[1], SCRIPTED[2]]
    if "best model (acc%)" not in dropped:
        table, _ = _table(out)
        assert all(any(model in line for line in table) for model in best), out
    assert ("best model (acc%)" in dropped) == (width < 80), dropped
    wide = _invoke("gap", "--wide", "--db", str(scored), width=60)
    assert _check(wide, 10_000, order, 4, best) == []


@pytest.mark.parametrize("width", [60, 80, 120])
def test_leaderboard_and_run_through_the_cli(width: int, scored: Path) -> None:
    # The dated ids (52 characters) cannot stay whole beside n, acc% and 95% CI in 60 columns:
    # they fold there (test_an_id_wider_than_the_terminal_folds_but_keeps_the_scores).
    ids = [m for m in SCRIPTED if width > 60 or "released" not in m]
    out = _invoke("leaderboard", "--db", str(scored), width=width)
    dropped = _check(out, width, BOARD, 4, ids)
    wide = _invoke("leaderboard", "--wide", "--db", str(scored), width=width)
    assert _check(wide, 10_000, BOARD, 4, SCRIPTED) == []
    assert all(_shown(_table(wide)[1], header) for header in dropped)
    # What `run` prints (one model, so no rank), resumed from the stored samples.
    run = ["run", "--model", SCRIPTED[1], "--task", "arith", "--n", "20", "--db", str(scored)]
    alone = [header for header in BOARD if header != "rank"]
    _check(_invoke(*run, width=width), width, alone, 4, [SCRIPTED[1]])
    assert _check(_invoke(*run, "--wide", width=width), 10_000, alone, 4, [SCRIPTED[1]]) == []


def test_demo_takes_wide() -> None:
    assert "--wide" in _invoke("demo", "--help", width=80)
