"""The report, the web leaderboard's queries and the exports on PostgreSQL: the same view, pages
and files as from the SQLite file holding the same rows, on a database whose locale sorts text
otherwise (ICU en-US), and the SQL aggregation equal to the terminal's own computation."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.helpers import run_gapbench
from tests.report.report_dbs import CN_B, CN_C, US_A, add_hostile, run, scripted_db
from tests.report.test_report_queries import _check_against_python, _same
from tests.store.postgres_server import PostgresServer

from gapbench.report.outcomes import OutcomeTable
from gapbench.report.queries import (
    SampleQuery,
    disagreements_page,
    fingerprint,
    first_disagreements,
    sample_counts,
    samples_page,
)
from gapbench.report.selection import current_selection
from gapbench.report.views import ReportOptions, open_results, summary_view
from gapbench.store import Store
from gapbench.store.location import conceal

EN_US = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
"""A database whose text sorts as American English does (capitals among small letters)."""
SHIFTED = EN_US.replace("'en-US'", "'en-US-u-ka-shifted'")
"""... and with punctuation and spaces ignored."""
UPPER = "scripted:Zed?accuracy=0.5"
"""A model id that sorts first by code point and last in en-US."""


def copy_rows(sqlite_db: Path, url: str) -> None:
    """Every run and sample of `sqlite_db`, value for value (ids included), into `url`."""
    Store.open(url).close()
    with sqlite3.connect(sqlite_db) as src, psycopg.connect(url) as dst:
        for table in ("runs", "samples"):
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            rows = src.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY id").fetchall()
            marks = ", ".join("%s" for _ in cols)
            with dst.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO gapbench.{table} ({', '.join(cols)}) VALUES ({marks})", rows
                )


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> tuple[str, str]:
    """(SQLite path, PostgreSQL URL) holding the same rows: three scripted models, one whose id
    sorts differently by locale, a hostile one, failures, no-answers."""
    db = tmp_path_factory.mktemp("both") / "r.db"
    scripted_db(db, 40, US_A, CN_B, CN_C, UPPER)
    for seed in ("1", "11"):  # "1, 10" and "11, 0" order differently by locale
        run(db, "--model", US_A, "--model", CN_B, "--task", "arith", "--n", "12", "--seed", seed)
    add_hostile(db, US_A)
    url = postgres.create_database(options=EN_US)
    copy_rows(db, url)
    return str(db), url


def _view(db: str) -> dict[str, Any]:
    with open_results(db) as conn:
        view = summary_view(conn, ReportOptions(db))
    view.pop("generated_at")
    assert view.pop("db") == conceal(db)  # for a URL, without its password
    return view


def test_the_view_is_the_same_as_from_sqlite(
    both: tuple[str, str], postgres: PostgresServer
) -> None:
    sqlite_db, url = both
    on_sqlite, on_postgres = _view(sqlite_db), _view(url)
    assert postgres.password not in json.dumps(on_postgres)
    _same(on_sqlite, on_postgres, "view")
    assert len(on_postgres["pairs"]) == 10 and on_postgres["gap"] is not None


def test_pages_disagreements_and_counts_are_the_same(both: tuple[str, str]) -> None:
    found = []
    for db in both:
        with open_results(db) as conn:
            sel = current_selection()
            everything = SampleQuery(limit=100_000)
            pages = [
                samples_page(conn, sel, SampleQuery(model=m, outcome=o, offset=5, limit=20))
                for m in (None, US_A, UPPER)
                for o in ("all", "right", "wrong", "noanswer", "failed")
            ]
            found.append(
                (
                    pages,
                    disagreements_page(conn, sel, US_A, UPPER, None, 3, 10),
                    first_disagreements(conn, sel, CN_B, UPPER, 5),
                    sample_counts(conn, sel),
                    len(fingerprint(conn)),
                    sorted(OutcomeTable(conn, sel).rows(), key=repr),
                    list(dict.fromkeys(s["model"] for s in samples_page(conn, sel, everything)[1])),
                )
            )
    assert found[0] == found[1]
    models = found[1][-1]
    assert models == sorted(models) and models.index(UPPER) < models.index(CN_B), models


def test_the_sql_aggregation_matches_the_terminal_on_postgres(pg_url: str) -> None:
    """Draws, pass@k and phrasings, written straight into PostgreSQL by `gapbench run`."""
    common = ("--model", US_A, "--task", "arith", "--n", "12")
    run(pg_url, *common, "--model", CN_B, "--samples", "3", "--temperature", "0.8")  # type: ignore[arg-type]
    run(pg_url, "--model", US_A, "--model", CN_C, "--task", "logic", "--n", "10",  # type: ignore[arg-type]
        "--prompt-variants", "2")  # fmt: skip
    view = _check_against_python(pg_url)  # type: ignore[arg-type]
    assert any(row["pass_at_k"] for row in view["leaderboard"])
    assert any(row["phrasings"] for row in view["leaderboard"])
    assert any(pair["phrasing_gaps"] for pair in view["pairs"])


def test_exports_and_the_report_file_are_the_same(both: tuple[str, str], tmp_path: Path) -> None:
    for what in ("samples", "leaderboard", "compare"):
        outs = []
        for i, db in enumerate(both):
            out = tmp_path / f"{what}-{i}.jsonl"
            result = run_gapbench("export", "--what", what, "--format", "jsonl", "--out", str(out),
                                  "--db", db)  # fmt: skip
            assert result.returncode == 0, result.stderr
            outs.append([json.loads(line) for line in out.read_text().splitlines()])
        _same(outs[0], outs[1], what)
        assert outs[1]
    pages = []
    for i, db in enumerate(both):
        out = tmp_path / f"report-{i}.html"
        result = run_gapbench("report", "--db", db, "--out", str(out))
        assert result.returncode == 0, result.stderr
        pages.append(out.read_text())
    assert "scripted:cnb" in pages[1]
    assert len(pages[1]) > 10_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_web_leaderboard_serves_a_postgres_database(
    both: tuple[str, str], postgres: PostgresServer
) -> None:
    _, url = both
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapbench", "serve", "--db", url, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/leaderboard") as resp:
                    board = json.loads(resp.read())
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/samples?model={urllib.request.quote(UPPER)}&limit=5"
        ) as resp:
            samples = json.loads(resp.read())
        assert board and samples
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert postgres.password not in out + err
    assert "Serving postgresql://gapbench@" in out


def test_instances_are_ordered_by_code_point_whatever_the_locale(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """The bootstrap takes outcome patterns in the order of their first instance's repr, which
    orders "seed, index" text by code point: "1, 9" before "11, 0", which a locale that ignores
    punctuation (ICU's 'shifted') puts the other way round."""
    from gapbench.store import RunInfo, SampleKey, SampleRecord

    url = postgres.create_database(options=SHIFTED)
    sqlite_db = tmp_path / "order.db"
    for db in (str(sqlite_db), url):
        with Store.open(db) as store:
            for model in ("a", "b"):
                run_id = store.start_run(
                    RunInfo(gapbench_version="0", model_id=model, backend="scripted",
                            engine_version="0", sampling={}, settings_hash="h")
                )  # fmt: skip
                for seed, index in ((11, 0), (1, 9)):
                    store.add_sample(
                        SampleRecord(
                            key=SampleKey(model, "arith", "1", seed, index, "medium", "h"),
                            run_id=run_id, prompt="q", output="o", extracted="1",
                            extraction_ok=True, correct=True, reference="1", prompt_tokens=1,
                            completion_tokens=1, finish_reason="stop", latency_s=0.1,
                        )
                    )  # fmt: skip
    rows = []
    for db in (str(sqlite_db), url):
        with open_results(db) as conn:
            rows.append(OutcomeTable(conn, current_selection()).rows())
    assert rows[0] == rows[1]
    assert rows[1][0][3].endswith("1, 9, 'medium')"), rows
