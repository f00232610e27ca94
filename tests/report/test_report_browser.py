"""The report file and the served pages in a real headless Chromium (Debian's, driven by
Playwright; `playwright install` is never run): no console error, charts drawn with data,
sorting, paging through 10,000 samples, and hostile stored text that never runs."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

from tests.report.report_dbs import CN_B, US_A, XSS_MODEL, add_hostile, run, scripted_db  # noqa: E402

CHROMIUM = os.environ.get("GAPBENCH_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.network
CHARTS = ("chart-forest", "chart-cost", "chart-speed", "chart-heatmap", "chart-origins")
TOTAL = 10_000 + 30  # the scripted samples and the hostile model's


@dataclass
class Opened:
    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = scripted_db(tmp_path_factory.mktemp("big") / "big.db", 2500, US_A, CN_B)
    add_hostile(db, US_A)
    return db


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        # As root (CI) Chromium refuses to start without --no-sandbox.
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _open(browser: Any, url: str) -> Iterator[Opened]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    opened = Opened(page)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: opened.errors.append(str(e)))
    page.on("request", lambda r: opened.requests.append(r.url))
    page.goto(url)
    page.wait_for_selector('body[data-ready="1"]', timeout=60_000)
    yield opened
    page.close()


@pytest.fixture(scope="module")
def report_file(big_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "report.html"
    from click.testing import CliRunner

    from gapbench.cli.main import main

    args = ["report", "--db", str(big_db), "--out", str(out), "--sample-limit", "5000"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def server(big_db: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapbench", "serve", "--db", str(big_db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, f"server did not start: {line!r}"
        yield found[0]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(params=["report", "serve"])
def opened(request: pytest.FixtureRequest, browser: Any) -> Iterator[Opened]:
    url = (
        request.getfixturevalue("report_file").as_uri()
        if request.param == "report"
        else request.getfixturevalue("server")
    )
    yield from _open(browser, url)


def test_loads_without_console_errors_or_outside_requests(opened: Opened) -> None:
    opened.page.wait_for_timeout(500)
    assert opened.errors == []
    first = opened.requests[0]
    origin = first if first.startswith("file:") else first.rsplit("/", 1)[0]
    assert all(url.startswith(origin) for url in opened.requests), opened.requests


def test_charts_render_with_data(opened: Opened) -> None:
    for chart in CHARTS:
        points = opened.page.evaluate(
            """id => { const el = document.getElementById(id);
                 if (!el.data || !el.querySelector('svg.main-svg')) { return 0; }
                 return el.data.reduce((n, t) => n + (t.z ? t.z.length : t.x.length), 0); }""",
            chart,
        )
        assert points > 0, chart
    assert opened.page.locator("#chart-heatmap .hm image, #chart-heatmap .heatmaplayer").count()
    assert opened.page.locator("#verdicts li").count() == 3


def _models_in_table(opened: Opened) -> list[str]:
    return [t.strip() for t in opened.page.locator("#lb-body td.model").all_inner_texts()]


def test_sorting_the_leaderboard_changes_the_order(opened: Opened) -> None:
    before = _models_in_table(opened)
    opened.page.click('#lb-head th[data-key="model"]')
    ascending = _models_in_table(opened)
    opened.page.click('#lb-head th[data-key="model"]')
    descending = _models_in_table(opened)
    assert ascending == sorted(before) != before
    assert descending == ascending[::-1]
    opened.page.click('#lb-head th[data-key="accuracy"]')
    accuracies = [
        float(t) for t in opened.page.locator("#lb-body td:nth-child(5)").all_inner_texts()
    ]
    assert accuracies == sorted(accuracies, reverse=True)
    opened.page.fill("#lb-filter", "cnb")
    assert len(_models_in_table(opened)) == 1


def _status(opened: Opened) -> str:
    return str(opened.page.inner_text("#sb-status"))


def _wait_status(opened: Opened, pattern: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = _status(opened)
        if re.search(pattern, text):
            return text
        opened.page.wait_for_timeout(100)
    raise AssertionError(f"status {_status(opened)!r} never matched {pattern!r}")


def test_the_sample_browser_pages_through_10000_samples(opened: Opened) -> None:
    _wait_status(opened, rf"samples 1–50 of {TOTAL:,} \(page 1 of 201\)")
    first = opened.page.inner_text("#sb-list .sample >> nth=0")
    opened.page.click("#sb-next")
    _wait_status(opened, rf"51–100 of {TOTAL:,}")
    assert opened.page.inner_text("#sb-list .sample >> nth=0") != first
    opened.page.fill("#sb-page", "150")
    opened.page.click("#sb-go")
    _wait_status(opened, r"7,451–7,500 .*page 150 of")
    opened.page.click("#sb-last")
    _wait_status(opened, rf"10,001–{TOTAL:,} of {TOTAL:,}")
    assert opened.page.locator("#sb-list .sample").count() == 30
    opened.page.select_option("#sb-model", US_A)
    opened.page.select_option("#sb-other", CN_B)
    _wait_status(opened, r"instances 1–50 of [\d,]+")
    pair = opened.page.locator("#sb-list .pair >> nth=0 >> .badge").all_inner_texts()
    assert sorted(pair) == ["right", "wrong"]


def test_hostile_stored_text_never_runs(opened: Opened) -> None:
    page = opened.page
    page.select_option("#sb-model", XSS_MODEL)
    _wait_status(opened, r"of 30 ")
    output = page.inner_text("#sb-list .sample >> nth=0 >> pre.f-output")
    assert "<script>window.__xss=1</script>" in output
    assert 'onerror="window.__xss=1"' in output
    page.select_option("#sb-other", US_A)
    _wait_status(opened, r"instances 1–\d+ of \d+")
    page.click('#lb-head th[data-key="model"]')
    page.hover("#chart-heatmap")
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator("img[src='x']").count() == 0
    assert XSS_MODEL in page.inner_text("#lb-body")
    assert opened.errors == []


def test_the_server_updates_while_a_run_writes(big_db: Path, server: str, browser: Any) -> None:
    for opened in _open(browser, server):
        assert len(_models_in_table(opened)) == 3
        run(big_db, "--model", "scripted:late?accuracy=0.4", "--task", "arith", "--n", "5")
        deadline = time.monotonic() + 120  # a shared 2-core machine can be slow to recompute
        while len(_models_in_table(opened)) < 4 and time.monotonic() < deadline:
            opened.page.wait_for_timeout(200)
        # The new model may land on the accuracy-vs-cost frontier, which marks its name with ★.
        shown = [name.removesuffix(" ★") for name in _models_in_table(opened)]
        assert "scripted:late?accuracy=0.4" in shown
        assert opened.errors == []
