"""The self-contained HTML report: one file, every script and style inline, no network request.

Charts are drawn by Plotly.js, whose bundle ships inside the `plotly` Python package (the
`report` extra) and is inlined whole, so the file opens offline. The data travels as JSON in a
non-executed `<script type="application/json">` block with `<`, `>`, `&` and the two JavaScript
line separators written as escapes, so no stored text can close the block or open a tag; the
page's own script reads it with JSON.parse and shows text through textContent only. A
Content-Security-Policy in the page allows exactly the two inline scripts (by hash) and no
connection at all: a stored `<script>` could not run even if it reached the markup.
"""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from typing import Any

SAMPLE_LIMIT = 200
"""Samples embedded per model and task (and disagreements per pair and task) by default."""
MAX_CHARS = 4000
"""Longer prompts, outputs and reasoning are cut to this many characters in the report."""


def asset(name: str) -> str:
    """The text of a file in report/assets."""
    return resources.files("gapbench.report").joinpath("assets", name).read_text("utf-8")


def plotly_js() -> str:
    """Plotly.js as the installed `plotly` package bundles it."""
    from gapbench.errors import UsageError

    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise UsageError(
            "The HTML report draws its charts with Plotly: install it with "
            "`pip install 'gapbench[report]'` and retry."
        ) from None
    return str(get_plotlyjs())


def safe_json(payload: object) -> str:
    """JSON that can sit inside a `<script>` element: no `<`, `>` or `&` appears literally
    (so `</script>` and `<!--` cannot), nor U+2028/U+2029."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def page(*, title: str, data: str, scripts: str, csp: str | None, style: str) -> str:
    """The page template with its parts filled in (each already safe for its place)."""
    import re

    meta = f'<meta http-equiv="Content-Security-Policy" content="{csp}">' if csp else ""
    parts = {
        "CSP": meta,
        "TITLE": _escape_text(title),
        "STYLE": style,
        "SCRIPTS": scripts,
        "DATA": data,
    }
    # One pass: text put in is never searched for placeholders again.
    return re.sub(r"__(CSP|TITLE|STYLE|SCRIPTS|DATA)__", lambda m: parts[m[1]], asset("page.html"))


def render_report(boot: dict[str, Any]) -> str:
    """The whole report for a boot payload ({"mode": "embedded", "view": ..., "samples": ...})."""
    plotly = plotly_js()
    app = asset("app.js")
    # A script element's text ends at the first "</script"; neither bundle holds one.
    for script in (plotly, app):
        if "</script" in script.lower():
            raise RuntimeError("an inline script contains </script>")
    csp = (
        "default-src 'none'; "
        f"script-src {_hash(plotly)} {_hash(app)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    scripts = f"<script>{plotly}</script>\n<script>{app}</script>"
    return page(
        title=f"gapbench report: {boot['view']['db']}",
        data=safe_json(boot),
        scripts=scripts,
        csp=csp,
        style=f"<style>{asset('app.css')}</style>",
    )
