"""`gapbench report`: the view, a bounded set of samples, and the file written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from gapbench.report.html import MAX_CHARS, SAMPLE_LIMIT
from gapbench.report.views import ReportOptions
from gapbench.store.dbapi import Connection


def embedded_samples(
    conn: Connection, opts: ReportOptions, view: dict[str, Any], limit: int, max_chars: int
) -> tuple[list[dict[str, Any]], dict[str, list[list[int]]]]:
    """Up to `limit` samples of every model and task (in instance order), and for every pair of
    models and task up to `limit` instances where exactly one was right, with their samples."""
    from gapbench.report.queries import SampleQuery, first_disagreements, samples_page
    from gapbench.report.views import selection

    sel = selection(conn, opts)
    models = [r["model"] for r in view["leaderboard"] if r["task"] == "overall"]
    tasks = sorted({r["task"] for r in view["leaderboard"] if r["task"] != "overall"})
    rows: dict[int, dict[str, Any]] = {}
    for model in models:
        for task in tasks:
            q = SampleQuery(model=model, task=task, limit=limit)
            for sample in samples_page(conn, sel, q, max_chars)[1]:
                rows[sample["id"]] = sample
    pairs: dict[str, list[list[int]]] = {}
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            found: list[list[int]] = []
            pages = first_disagreements(conn, sel, a, b, limit, max_chars)
            for task in tasks:
                for pair in pages.get(task, []):
                    rows.setdefault(pair["a"]["id"], pair["a"])
                    rows.setdefault(pair["b"]["id"], pair["b"])
                    found.append([pair["a"]["id"], pair["b"]["id"]])
            pairs[f"{a}\0{b}"] = found
    ordered = sorted(
        rows.values(),
        key=lambda s: (s["model"], s["task"], s["seed"], s["index"], s["difficulty"], s["draw"]),
    )
    return ordered, pairs


def build_report(
    opts: ReportOptions, sample_limit: int = SAMPLE_LIMIT, max_chars: int = MAX_CHARS
) -> str:
    """The whole HTML report of the selected results."""
    from gapbench.report.html import plotly_js, render_report
    from gapbench.report.views import open_results, summary_view

    plotly_js()  # fail on a missing extra before any work
    with open_results(opts.db_path) as conn:
        view = summary_view(conn, opts)
        rows, pairs = embedded_samples(conn, opts, view, sample_limit, max_chars)
    boot = {
        "mode": "embedded",
        "view": view,
        "samples": {"rows": rows, "limit": sample_limit, "max_chars": max_chars},
        "disagreements": pairs,
    }
    return render_report(boot)


def check_out_path(out: Path) -> None:
    """UsageError unless a file can be written at `out` (checked before any work)."""
    from gapbench.errors import UsageError

    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise UsageError(f"{out} is a folder: pass a file path to --out.")
    if not parent.is_dir():
        raise UsageError(
            f"The folder of {out} ({parent}) does not exist: create it or pass another --out."
        )
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"{out} cannot be written (permission denied): pass another --out.")


def write_atomically(out: Path, content: str | bytes) -> None:
    """Write to a temporary file beside `out`, then rename it over `out`: a reader (or a failure)
    never sees half a file."""
    from gapbench.errors import GapbenchError

    parent = out.parent if str(out.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise GapbenchError(
            f"Could not write {out} ({exc.strerror}): free some space or pass another --out."
        ) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
