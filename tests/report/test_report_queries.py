"""The SQL aggregation gives exactly what the terminal commands compute from loaded samples."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from tests.report.report_dbs import CN_B, CN_C, US_A, add_hostile, run, scripted_db

from gapbench.cli.gap_cmds import _origins
from gapbench.cli.options import load_results
from gapbench.report.queries import SampleQuery, disagreements_page, samples_page
from gapbench.report.selection import current_selection
from gapbench.report.views import ReportOptions, open_results, summary_view
from gapbench.stats.equivalence import DEFAULT_MARGIN
from gapbench.stats.gap import origin_gaps
from gapbench.stats.summary import pairwise, summarize


def _same(a: object, b: object, where: str) -> None:
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _check_against_python(db: Path, tasks: list[str] | None = None) -> dict[str, object]:
    samples, accounting = load_results(str(db), tasks, None, None)
    rows = summarize(samples, accounting)
    opts = ReportOptions(str(db), tuple(tasks) if tasks else None)
    with open_results(str(db)) as conn:
        view = summary_view(conn, opts)
    _same([r.as_dict() for r in rows], view["leaderboard"], "leaderboard")
    _same([p.as_dict() for p in pairwise(samples, rows)], view["pairs"], "pairs")
    answered = [s for s in samples if s.error is None]
    origins = _origins(sorted({s.key.model_id for s in answered}))
    if view["gap"] is not None:
        expected = origin_gaps(answered, origins, DEFAULT_MARGIN)
        _same(expected.as_dict(), view["gap"], "gap")
    return view


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = scripted_db(tmp_path_factory.mktemp("three") / "r.db", 40, US_A, CN_B, CN_C)
    add_hostile(db, US_A)
    return db


def test_leaderboard_pairs_and_gap_match_the_terminal(three: Path) -> None:
    view = _check_against_python(three)
    assert view["gap"] is not None and view["gap"]["timeline"]
    assert len(view["pairs"]) == 6
    assert any(row["failed"] for row in view["leaderboard"])


def test_a_task_selection_matches_too(three: Path) -> None:
    _check_against_python(three, ["logic"])


def test_several_draws_and_phrasings_match(tmp_path: Path) -> None:
    db = tmp_path / "draws.db"
    run(
        db,
        "--model",
        US_A,
        "--model",
        CN_B,
        "--task",
        "arith",
        "--n",
        "12",
        "--samples",
        "3",
        "--temperature",
        "0.8",
    )
    run(
        db,
        "--model",
        US_A,
        "--model",
        CN_C,
        "--task",
        "logic",
        "--n",
        "10",
        "--prompt-variants",
        "2",
    )
    view = _check_against_python(db)
    assert any(row["pass_at_k"] for row in view["leaderboard"])
    assert any(row["phrasings"] for row in view["leaderboard"])
    assert any(pair["phrasing_gaps"] for pair in view["pairs"])


def test_samples_page_through_in_instance_order(three: Path) -> None:
    with open_results(str(three)) as conn:
        sel = current_selection()
        total, first = samples_page(conn, sel, SampleQuery(model=US_A, limit=30))
        _, second = samples_page(conn, sel, SampleQuery(model=US_A, offset=30, limit=30))
        right, _ = samples_page(conn, sel, SampleQuery(model=US_A, outcome="right", limit=1))
    assert total == 80 and len(first) == 30 and len(second) == 30
    keys = [(s["task"], s["index"]) for s in first + second]
    assert keys == sorted(keys) and len(set(keys)) == 60
    samples, _ = load_results(str(three), None, [US_A], None)
    assert right == sum(s.correct and s.error is None for s in samples)


def test_disagreements_are_the_instances_exactly_one_got_right(three: Path) -> None:
    samples, _ = load_results(str(three), None, [US_A, CN_B], None)
    by = {(s.key.model_id, s.key.task, s.key.index): s.correct for s in samples}
    expected = {
        (task, index)
        for (model, task, index), right in by.items()
        if model == US_A and (CN_B, task, index) in by and by[(CN_B, task, index)] != right
    }
    with open_results(str(three)) as conn:
        total, rows = disagreements_page(conn, current_selection(), US_A, CN_B, None, 0, 1000)
    assert total == len(expected) > 0
    assert {(r["a"]["task"], r["a"]["index"]) for r in rows} == expected
    assert all(r["a"]["model"] == US_A and r["b"]["model"] == CN_B for r in rows)
    assert all(r["a"]["correct"] != r["b"]["correct"] for r in rows)


def test_outcome_table_folds_as_the_aligned_columns_do(three: Path) -> None:
    """OutcomeTable's patterns (counts and order of first occurrence over the instances sorted by
    repr, indexes past 9 included) are those of shared_columns' aligned columns, so the bootstrap
    draws the same resamples; its pair counts are pair_counts'."""
    from tests.report.reference_outcomes import pair_counts, shared_columns

    from gapbench.report.outcomes import OutcomeTable
    from gapbench.stats.ranking import fold_patterns

    models = [US_A, CN_B, CN_C]
    with open_results(str(three)) as conn:
        sel = current_selection()
        table = OutcomeTable(conn, sel)
        for task in (None, "arith", "logic"):
            chosen = sel if task is None else replace(sel, tasks=(task,))
            for subset in (models, [CN_C, US_A], [CN_B]):
                columns = shared_columns(conn, chosen, subset)
                folded = table.shared(subset, task)
                assert folded.size == len(columns.instances) > 10
                expected = fold_patterns([columns.correct[m] for m in subset])
                assert folded.folded() == expected
                assert folded.folded(subset[::-1]) == columns.folded(subset[::-1])
        assert table.pairs(models) == pair_counts(conn, sel, models)
        assert OutcomeTable(conn, sel, [US_A, CN_B]).pairs([US_A, CN_B]) == pair_counts(
            conn, sel, [US_A, CN_B]
        )


def test_first_disagreements_are_the_first_page_of_each_task(three: Path) -> None:
    from gapbench.report.queries import first_disagreements

    with open_results(str(three)) as conn:
        sel = current_selection()
        pages = first_disagreements(conn, sel, US_A, CN_C, 7)
        for task in ("arith", "logic"):
            _, page = disagreements_page(conn, sel, US_A, CN_C, task, 0, 7)
            assert pages.get(task, []) == page
