"""`gapbench report`, `gapbench serve` and `gapbench export`: read the database, never write it.

Each imports its libraries (Plotly, Starlette and uvicorn, pyarrow) only when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gapbench.cli.options import F, db_option, margin_option, price_option, task_selection

if TYPE_CHECKING:
    from gapbench.report.views import ReportOptions


def _options(
    db_path: str,
    task: str | None,
    suite: str | None,
    models: tuple[str, ...],
    margin: float | None,
    usd_per_hour: float | None,
) -> ReportOptions:
    from gapbench.cli.read_cmds import _task_names
    from gapbench.report.views import ReportOptions, check_database

    check_database(db_path)
    names = _task_names(task, suite)
    return ReportOptions(
        db_path=db_path,
        tasks=tuple(names) if names is not None else None,
        models=models or None,
        margin=margin,
        usd_per_hour=usd_per_hour,
    )


def model_option(func: F) -> F:
    return click.option(
        "--model",
        "models",
        multiple=True,
        help="Only this model (repeat for several); default: every model with results.",
    )(func)


@click.command()
@task_selection
@model_option
@margin_option
@db_option
@price_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="report.html",
    show_default=True,
    help="The HTML file to write (replaced whole, never half-written).",
)
@click.option(
    "--sample-limit",
    type=click.IntRange(0, 1_000_000),
    default=200,
    show_default=True,
    help="Samples embedded per model and task (and instances per pair and task where exactly "
    "one model was right); `gapbench serve` browses all of them.",
)
def report(
    task: str | None,
    suite: str | None,
    models: tuple[str, ...],
    margin: float | None,
    db_path: str,
    usd_per_hour: float | None,
    out: str,
    sample_limit: int,
) -> None:
    """Write one self-contained HTML file (opens offline): leaderboard, gaps, cost and speed,
    accuracy by task, origins over time, a sample browser and the provenance of every run."""
    from gapbench.report.build import build_report, check_out_path, write_atomically

    opts = _options(db_path, task, suite, models, margin, usd_per_hour)
    target = Path(out)
    check_out_path(target)
    html = build_report(opts, sample_limit=sample_limit)
    write_atomically(target, html)
    size = len(html.encode("utf-8"))
    click.echo(f"Wrote {target} ({size / 1e6:.1f} MB); open it in a browser, no network needed.")


@click.command()
@task_selection
@model_option
@margin_option
@db_option
@price_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback shows your results to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
def serve(
    task: str | None,
    suite: str | None,
    models: tuple[str, ...],
    margin: float | None,
    db_path: str,
    usd_per_hour: float | None,
    host: str,
    port: int,
) -> None:
    """A local, read-only web leaderboard over the database that updates while runs write to
    it, with a JSON API under /api/ (leaderboard, compare, samples)."""
    from gapbench.report.server import bind, create_app, run_server
    from gapbench.report.views import open_results

    opts = _options(db_path, task, suite, models, margin, usd_per_hour)
    with open_results(db_path):
        pass  # a bad database fails here, before the port is taken
    sock = bind(host, port)  # a taken port fails before the summary is computed
    try:
        app = create_app(opts, host)  # requests queue on the socket meanwhile
    except BaseException:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {db_path} read-only at http://{shown}:{bound}/ (Ctrl-C to stop)")
    run_server(app, sock)


@click.command()
@click.option(
    "--what",
    type=click.Choice(["samples", "leaderboard", "compare"]),
    required=True,
    help="samples: every stored sample; leaderboard: the rows of `gapbench leaderboard`; "
    "compare: the paired verdict of every pair of models.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet"]),
    default="csv",
    show_default=True,
    help="parquet needs `pip install 'gapbench[parquet]'`.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="File to write (replaced whole); default: standard output (not for parquet).",
)
@task_selection
@model_option
@margin_option
@db_option
@price_option
def export(
    what: str,
    fmt: str,
    out: str | None,
    task: str | None,
    suite: str | None,
    models: tuple[str, ...],
    margin: float | None,
    db_path: str,
    usd_per_hour: float | None,
) -> None:
    """Export samples, leaderboard rows or paired verdicts as CSV, JSON Lines or Parquet, with
    the stable columns of docs/export.md."""
    from gapbench.errors import UsageError
    from gapbench.report.build import check_out_path
    from gapbench.report.export import export_to

    if fmt == "parquet" and out is None:
        raise UsageError("Parquet is binary: pass --out FILE.parquet.")
    if out is not None:
        check_out_path(Path(out))
    opts = _options(db_path, task, suite, models, margin, usd_per_hour)
    written = export_to(opts, what, fmt, Path(out) if out is not None else None)
    if out is not None:
        click.echo(f"Wrote {written:,} {what} rows to {out}.", err=True)
