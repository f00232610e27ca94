"""The README's screenshot of `gapbench report`: four scripted models (two US, two CN, with
release dates) on three tasks, the report written, and its top opened in headless Chromium.

.venv/bin/python benchmarks/report_screenshot.py [--out docs/report.png]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

MODELS = (
    "scripted:us-large?accuracy=0.78&origin=US&released=2024-05-01",
    "scripted:cn-coder?accuracy=0.74&noanswer=0.06&origin=CN&released=2024-09-01",
    "scripted:cn-small?accuracy=0.55&origin=CN&released=2025-01-20",
    "scripted:us-small?accuracy=0.52&noanswer=0.15&origin=US&released=2025-03-01",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/report.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="report-shot-"))
    db, html = folder / "gapbench.db", folder / "report.html"
    gapbench = [sys.executable, "-m", "gapbench"]
    models = [a for m in MODELS for a in ("--model", m)]
    subprocess.run(
        [
            *gapbench,
            "run",
            *models,
            "--task",
            "arith,logic,zh_arith",
            "--n",
            "150",
            "--db",
            str(db),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run([*gapbench, "report", "--db", str(db), "--out", str(html)], check=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1500}, device_scale_factor=1)
        page.goto(html.as_uri())
        page.wait_for_selector('body[data-ready="1"]')
        page.wait_for_timeout(1000)
        page.screenshot(path=str(args.out), clip={"x": 0, "y": 0, "width": 1280, "height": 1500})
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
