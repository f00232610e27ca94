"""The README's demo output is what the current code prints for that run.

`benchmarks/bench_demo.py --write-readme` runs the real demo, keeps its database as
tests/data/demo.db and pastes its output into README.md. Here the demo is replayed from that
database (its rounds find every sample stored, so no model is loaded) by the same code, at the
same terminal width: if a column, a legend or a verdict's wording changes and the README is not
regenerated, this fails.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

from gapbench.catalog.types import ModelSpec
from gapbench.cli.run_cmds import run_demo

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEMO_DB = ROOT / "tests" / "data" / "demo.db"
START, END = "<!-- demo-output:start -->", "<!-- demo-output:end -->"


def _readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(re.escape(START) + r"\n```\n(.*?)\n```\n" + re.escape(END), text, re.S)
    assert m is not None, f"README.md has no demo output between {START} and {END}"
    return m.group(1)


def _refuse(spec: ModelSpec) -> NoReturn:
    raise AssertionError(
        f"tests/data/demo.db lacks samples the current demo draws for {spec.id}: run "
        "benchmarks/bench_demo.py --write-readme"
    )


def test_the_readme_shows_what_the_demo_prints_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    shutil.copyfile(DEMO_DB, db)  # a copy: opening migrates, and the checked-in file stays as is
    monkeypatch.setenv("COLUMNS", "110")
    monkeypatch.delenv("GAPBENCH_USD_PER_HOUR", raising=False)
    monkeypatch.chdir(tmp_path)  # no gapbench.toml of the checkout's
    # The demo's rounds replayed from its stored samples: every decision, the stop and the
    # results print again, and no model is loaded.
    run_demo(str(db), None, load=_refuse)
    printed = capsys.readouterr().out.rstrip()
    readme = _readme_block()
    assert printed == readme, (
        "README.md's demo output differs from what the demo prints now: run "
        "benchmarks/bench_demo.py --write-readme"
    )
