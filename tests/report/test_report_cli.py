"""`gapbench report`, `serve` and `export`: bad input, what is written, and the export columns."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.helpers import CliInvoke
from tests.report.report_dbs import CN_B, CN_C, US_A, XSS_OUTPUT, add_hostile, scripted_db

from gapbench.report.export import COLUMNS
from gapbench.report.html import safe_json

DOCS = Path(__file__).parents[2] / "docs" / "export.md"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = scripted_db(tmp_path_factory.mktemp("cli") / "r.db", 15, US_A, CN_B, CN_C)
    add_hostile(db, US_A)
    return db


def _snapshot(db: Path) -> bytes:
    return db.read_bytes()


def test_the_report_is_one_offline_file_with_hostile_text_escaped(
    cli: CliInvoke, db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    before = _snapshot(db)
    result = cli("report", "--db", str(db), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert _snapshot(db) == before
    html = out.read_text("utf-8")
    # Three script elements (Plotly, the app, the JSON data), and nothing that loads a resource.
    assert html.count("<script") == html.lower().count("</script") == 3
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.DOTALL)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert "connect-src 'none'" in html
    assert XSS_OUTPUT not in html and "<img src=x" not in html
    assert "\\u003cscript\\u003ewindow.__xss=1" in html
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left


def test_safe_json_keeps_script_text_inert() -> None:
    text = safe_json({"a": "</script><!--<script>\u2028&"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!--<script>\u2028&"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--db", "{tmp}/missing.db"], "No database at"),
        (["report", "--db", "{db}", "--model", "nosuch"], "No results for model 'nosuch'"),
        (["report", "--db", "{db}", "--out", "{tmp}/no/such/r.html"], "does not exist"),
        (["report", "--db", "{db}", "--out", "{tmp}"], "is a directory"),
        (["report", "--db", "{tmp}/empty.db"], "No results in"),
        (["report", "--db", "{db}", "--task", "nosuch"], "Unknown task"),
        (["export", "--what", "nothing", "--db", "{db}"], "--what"),
        (["export", "--what", "samples", "--format", "xml", "--db", "{db}"], "--format"),
        (["export", "--what", "samples", "--format", "parquet", "--db", "{db}"], "--out"),
        (["export", "--what", "compare", "--db", "{tmp}/missing.db"], "No database at"),
        (["serve", "--db", "{tmp}/missing.db"], "No database at"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    cli: CliInvoke, db: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "empty.db").write_bytes(b"")
    before = _snapshot(db)
    filled = [a.format(tmp=tmp_path, db=db) for a in args]
    result = cli(*filled)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert _snapshot(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]
    assert (tmp_path / "empty.db").read_bytes() == b""


def test_a_database_with_one_model_still_reports(cli: CliInvoke, tmp_path: Path) -> None:
    one = scripted_db(tmp_path / "one.db", 5, US_A, tasks="arith")
    result = cli("report", "--db", str(one), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    assert "One model only" in (tmp_path / "r.html").read_text("utf-8")


def test_the_port_in_use_is_exit_2(db: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "gapbench", "serve", "--db", str(db), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert f"Port {port} on 127.0.0.1 is in use" in proc.stderr


def _documented(what: str) -> list[str]:
    """The column names docs/export.md lists under `### <what>`, in order."""
    text = DOCS.read_text("utf-8")
    section = text.split(f"### {what}\n", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE)


@pytest.mark.parametrize("what", ["samples", "leaderboard", "compare"])
def test_export_columns_are_the_documented_ones(cli: CliInvoke, db: Path, what: str) -> None:
    names = [name for name, _ in COLUMNS[what]]
    assert _documented(what) == names
    result = cli("export", "--what", what, "--format", "csv", "--db", str(db))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == names and len(rows) > 1
    lines = cli("export", "--what", what, "--format", "jsonl", "--db", str(db)).stdout.splitlines()
    assert len(lines) == len(rows) - 1
    assert list(json.loads(lines[0])) == names


def test_samples_export_holds_every_sample_with_text_intact(
    cli: CliInvoke, db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.jsonl"
    assert (
        cli(
            "export", "--what", "samples", "--format", "jsonl", "--db", str(db), "--out", str(out)
        ).exit_code
        == 0
    )
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(rows) == 3 * 2 * 15 + 30
    assert sum(r["output"] == XSS_OUTPUT for r in rows) == 30
    assert all(isinstance(r["correct"], bool) for r in rows)


def test_parquet_export_round_trips(cli: CliInvoke, db: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    for what in ("samples", "leaderboard", "compare"):
        out = tmp_path / f"{what}.parquet"
        result = cli(
            "export", "--what", what, "--format", "parquet", "--db", str(db), "--out", str(out)
        )
        assert result.exit_code == 0, result.output
        table = pq.read_table(out)
        assert table.column_names == [name for name, _ in COLUMNS[what]]
        assert table.num_rows > 0


def test_help_stays_free_of_heavy_imports() -> None:
    code = (
        "import sys; from gapbench.cli.main import main\n"
        "heavy = [m for m in ('plotly', 'starlette', 'uvicorn', 'pyarrow', 'gapbench.report.views')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert time.monotonic() - start < 10
