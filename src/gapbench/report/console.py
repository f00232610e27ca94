"""Rich tables for the terminal. Rendering only: every number comes from stats/."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Column, Table

    from gapbench.catalog.types import ModelSpec
    from gapbench.perf.prices import PriceQuote
    from gapbench.stats.gap import GapReport, OriginGap
    from gapbench.stats.paired import PairedComparison
    from gapbench.stats.summary import ScoreRow
    from gapbench.tasks.base import Task


def _console() -> Console:
    from rich.console import Console

    return Console()


# Fitting tables to the terminal. Each table names its columns in order of priority: the first
# `always` entries are always shown, the rest are dropped from the end until the table fits the
# terminal with every cell whole (no model id split across lines), and a note under the table
# names what was dropped. --wide keeps every column and prints past the terminal's width where it
# must. The same orders are in the README.
Order = Sequence[str]

LEADERBOARD_ORDER: Order = (
    "model / task", "n", "acc%", "95% CI",  # always shown
    "pass@k%", "spread", "noans%", "rank", "tok/s", "$/corr", "p50 s", "MB", "fail",
)  # fmt: skip
MODELS_ORDER: Order = (
    "id",  # always shown
    "origin", "params", "pulled", "key", "$/M in/out", "kind", "organisation", "price from",
    "license", "quant",
)  # fmt: skip
TASKS_ORDER: Order = (
    "name", "description",  # always shown
    "area", "lang", "levels", "kind", "suites", "version",
)  # fmt: skip


def gap_order(first: str, second: str, key: str) -> Order:
    """The gap tables ('task' or 'as of' first)."""
    return (key, f"{first}-{second}", "95% CI", "verdict", "best model (acc%)", "n")


def _widths(column: Column, console: Console) -> tuple[int, int]:
    """The narrowest the column can be with every cell whole (its widest line where it does not
    wrap, else its longest word; the header never wraps), and its natural width (no line
    wrapped)."""
    from rich.measure import Measurement

    options = console.options.update_width(10_000)
    header = Measurement.get(console, options, column.header).maximum
    least = natural = max(header, column.min_width or 0)
    for cell in column.cells:
        measured = Measurement.get(console, options, cell)
        least = max(least, measured.maximum if column.no_wrap else measured.minimum)
        natural = max(natural, measured.maximum)
    return least, natural


def _spread(room: int, wants: Sequence[int]) -> list[int]:
    """`room` shared out in proportion to `wants`, none getting more than it wants."""
    total = sum(wants)
    if total <= room:
        return list(wants)
    shares = [want * room // total for want in wants]
    for i in sorted(range(len(wants)), key=lambda i: -wants[i]):
        if sum(shares) >= room:
            break
        shares[i] += 1
    return shares


def fit_table(
    table: Table, console: Console, order: Order, *, always: int, wide: bool = False
) -> tuple[Table, int, list[str]]:
    """`table` with the columns that fit `console.width`, the width to print it at, and the
    headers left out. Columns are dropped from the end of `order` (never its first `always`
    entries; a column it does not name is never dropped) until the narrowest rendering that keeps
    every cell whole fits; then every column gets a width at least that narrow, so that rich
    never folds a model id, and what room is left goes to the columns that wrap (prose). If even
    the columns always shown do not fit, the first one (the model id) folds. With `wide`, nothing
    is dropped and the width grows to what every column needs."""
    import copy
    from dataclasses import replace

    from rich.measure import Measurement

    sizes = {str(c.header): _widths(c, console) for c in table.columns}
    droppable = [header for header in order[always:] if header in sizes]

    def with_columns(columns: Sequence[Column]) -> Table:
        fitted = copy.copy(table)
        fitted.columns = [replace(c, _index=i) for i, c in enumerate(columns)]
        return fitted

    def least(dropped: Sequence[str]) -> int:
        """The narrowest the table can be without these columns: their narrowest widths plus
        what borders and padding add (measured on the table with every column 0 wide)."""
        kept = [c for c in table.columns if str(c.header) not in dropped]
        empty = with_columns([replace(c, width=0, min_width=None) for c in kept])
        frame = Measurement.get(console, console.options.update_width(10_000), empty).minimum
        return frame + sum(sizes[str(c.header)][0] for c in kept)

    dropped: list[str] = []
    while not wide and least(dropped) > console.width and droppable:
        dropped.append(droppable.pop())
    width = max(console.width, least(dropped)) if wide else console.width
    room = width - least(dropped)
    columns = [c for c in table.columns if str(c.header) not in dropped]
    narrow = [sizes[str(c.header)][0] for c in columns]
    wants = [sizes[str(c.header)][1] - low for c, low in zip(columns, narrow, strict=True)]
    extra = _spread(max(room, 0), wants)
    # A column given all it wants keeps rich's sizing; the others get their width fixed.
    fixed = [more < want for want, more in zip(wants, extra, strict=True)]
    if room < 0:  # the first column cannot stay whole: it folds into what the others leave
        columns[0] = replace(columns[0], no_wrap=False, overflow="fold")
        narrow[0], extra[0], fixed[0] = max(1, narrow[0] + room), 0, True
    fitted = with_columns(
        [
            replace(c, min_width=low, width=low + more if fix else None)
            for c, low, more, fix in zip(columns, narrow, extra, fixed, strict=True)
        ]
    )
    # Named in table order, not in the order they were dropped.
    return fitted, width, [str(c.header) for c in table.columns if str(c.header) in dropped]


def print_table(
    table: Table, console: Console, order: Order, *, always: int, wide: bool = False
) -> list[str]:
    """Print `table` fitted to the terminal (see fit_table); returns the headers left out."""
    fitted, width, dropped = fit_table(table, console, order, always=always, wide=wide)
    narrow = console.width
    if width > narrow:  # --wide: past the terminal's edge rather than fold (`less -S` scrolls)
        console.width = width
    try:
        console.print(fitted)
    finally:
        console.width = narrow
    return dropped


def print_dropped(console: Console, dropped: Sequence[str]) -> None:
    """The note under a table that had to leave columns out."""
    if not dropped:
        return
    from rich.markup import escape

    console.print(
        escape(
            f"Left out to fit {console.width} columns: {', '.join(dropped)} (--wide shows every "
            "column, as does a wider terminal)."
        ),
        style="dim",
        highlight=False,
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _speed(row: ScoreRow) -> str:
    if row.tokens_per_s is None:
        return "-"
    return f"{row.tokens_per_s:.1f}" if row.tokens_per_s < 1000 else f"{row.tokens_per_s:.0f}"


def _latency(row: ScoreRow) -> str:
    return "-" if row.p50_latency_s is None else f"{row.p50_latency_s:.2f}"


def _dollars(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2g}" if value < 0.01 else f"{value:.3f}"


def _pass_at_k(row: ScoreRow) -> str:
    """'@5 52.0', or one line per k ('@10 48.2', '@20 60.1'): pass@k in percent for each k above
    1 that the row has; '-' for a single draw. pass@1 is left out because acc% shows it, and a
    line per k keeps the column about 10 characters wide, so the table fits 100 columns."""
    shown = [f"@{k} {_pct(v)}" for k, v in sorted(row.pass_at_k.items()) if k > 1]
    return "\n".join(shown) if shown else "-"


def print_leaderboard(
    rows: Sequence[ScoreRow], title: str, price: float, *, wide: bool = False
) -> None:
    """One block per model, best overall first: the pooled row, then each task. A pass@k column
    appears only when some instance was drawn several times, so single-draw tables keep their
    width. Columns that do not fit the terminal go in LEADERBOARD_ORDER's order (--wide keeps
    them)."""
    from rich.markup import escape
    from rich.table import Table

    from gapbench.stats.summary import OVERALL

    console = _console()
    if not rows:
        console.print("No results yet: run `gapbench run --model ID --suite quick` first.")
        return
    from rich import box

    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0)
    )
    # Task rows sit indented under their model's overall row: one column fewer. The rank
    # interval leads each model's row, as on LMArena's leaderboard.
    ranked = any(row.rank_interval for row in rows)
    if ranked:
        table.add_column("rank", no_wrap=True)
    table.add_column("model / task", no_wrap=True)  # ids whole: fit_table drops columns instead
    # pass@k sits next to the accuracy it extends; only when some instance has several draws.
    drawn = any(row.draws_per_instance > 1 and row.pass_at_k for row in rows)
    # How far accuracy moves across phrasings (--prompt-variants), beside the accuracy it qualifies.
    rephrased = any(row.phrasing_spread is not None for row in rows)
    unsafe = any(row.unsafe_sandbox for row in rows)
    headers = ["n", "acc%", "95% CI", "noans%", "fail", "tok/s", "p50 s", "$/corr", "MB"]
    if rephrased:
        headers.insert(3, "spread")
    if drawn:
        headers.insert(3, "pass@k%")
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    first = True
    for row in rows:
        overall = row.task == OVERALL
        if overall and not first:
            table.add_section()
        first = False
        cells = [
            _answered(row),
            _pct(row.accuracy) + (" !" if row.unsafe_sandbox else ""),
            f"{_pct(row.ci_low)}-{_pct(row.ci_high)}",
            _pct(row.extraction_failure_rate),
            str(row.failed),
            _speed(row),
            _latency(row),
            _dollars(row.usd_per_correct),
            "" if row.peak_rss_mb is None else f"{row.peak_rss_mb:.0f}",
        ]
        if rephrased:
            spread = row.phrasing_spread
            cells.insert(3, "-" if spread is None else _pct(spread))
        if drawn:
            cells.insert(3, _pass_at_k(row))
        # Model ids are user text: '[...]' in one must print as written, not as rich markup.
        name = escape(f"{row.model} *" if row.pareto else row.model) if overall else f"  {row.task}"
        rank = (row.rank_interval or "-") if overall else ""
        name_cells = [rank, name] if ranked else [name]
        table.add_row(*name_cells, *cells, style="bold" if overall else None)
    print_dropped(console, print_table(table, console, LEADERBOARD_ORDER, always=4, wide=wide))
    _warn_unanswered(console, [row for row in rows if row.task == OVERALL])
    console.print(
        "n: answered samples (answered/planned, in red, when some planned samples have no "
        "answer); acc: correct share of answered samples, 95% CI by Wilson; noans: outputs with no "
        "extractable answer (counted wrong, shown so harness errors stay visible); fail: "
        "generations that errored (retried on rerun); tok/s: output tokens per second of "
        "generation; p50: median latency; $/corr: cost of the run per correct answer "
        f"(local models at ${price:.2f}/hour); MB: peak memory; *: on the accuracy-vs-cost "
        "Pareto frontier."
        + (_rank_note(rows) if ranked else "")
        + (_DRAWN_NOTE if drawn else "")
        + (_SPREAD_NOTE if rephrased else "")
        + (_UNSAFE_NOTE if unsafe else ""),
        style="dim",
    )


def _rank_note(rows: Sequence[ScoreRow]) -> str:
    from gapbench.stats.ranking import RANK_RESAMPLES

    shared = next((row.rank_instances for row in rows if row.rank_instances is not None), 0)
    return (
        f" rank: 95% interval of the model's rank by accuracy over {RANK_RESAMPLES} bootstrap "
        f"resamples of the {shared} instances all models answered, drawn jointly for all of them "
        "(first draw and phrasing)."
    )


_SPREAD_NOTE = (
    " spread: highest minus lowest accuracy across the prompt's phrasings (--prompt-variants); "
    "acc pools them, and paired verdicts use the first phrasing and say how the gap moves."
)
_UNSAFE_NOTE = (
    " !: scored by a run with --unsafe-sandbox (model code ran without the sandbox, so it could "
    "have tampered with its own score)."
)


_DRAWN_NOTE = (
    " Where instances were drawn several times, acc is pass@1, the mean over instances of their "
    "right share, its CI is Korn and Graubard's (1998), clustered by instance (Miller 2024), and "
    "pass@k% is the unbiased estimate that one of k draws is right (Chen et al. 2021)."
)


def _answered(row: ScoreRow) -> str:
    """'80', or '[bold red]7/80[/]' when planned samples are missing: beside the score, so that a
    score on 7 of 80 samples never reads as the result of all 80."""
    if row.n >= row.planned:
        return str(row.n)
    return f"[bold red]{row.n}/{row.planned}[/]"


def _warn_unanswered(console: Console, overall: Sequence[ScoreRow]) -> None:
    """One loud line per model whose planned samples are not all answered."""
    for row in overall:
        if row.n >= row.planned:
            continue
        from rich.markup import escape

        share = "most" if row.unanswered * 2 > row.planned else "some"
        never = row.unanswered - row.failed
        why = ", ".join(
            part
            for part in (
                f"{row.failed} failed" if row.failed else "",
                f"{never} never generated" if never > 0 else "",
            )
            if part
        )
        console.print(
            f"[bold red]Warning:[/] {escape(row.model)} answered only {row.n} of {row.planned} "
            "planned "
            f"samples ({why}): {share} of the test is missing, so its scores above are not the "
            "result of the whole run; rerun the same command to retry the rest.",
            highlight=False,
            soft_wrap=True,
            markup=True,
        )


def _gap_verdict(row: OriginGap) -> str:
    """'CN ahead', 'US ahead', 'equivalent', 'inconclusive'; for a row without a gap, which
    origin has no model ('no CN model'; --json has the whole note)."""
    if row.kind is not None:
        return {"ahead": f"{row.first} ahead", "behind": f"{row.second} ahead"}.get(
            row.kind, row.kind
        )
    missing = [origin for origin, models in row.compared.items() if not models]
    if missing:
        return f"no {' or '.join(missing)} model" + (" yet" if row.as_of else "")
    return "no shared instance"


def _gap_cells(row: OriginGap) -> list[str]:
    """CN-US, 95% CI, verdict, then the best model of each origin with its accuracy, one line
    each ('CN 57.5 qwen2.5-coder-0.5b-instruct'): stacked, so the column is only as wide as the
    longer id and fits 80 columns with the catalog's ids."""
    from gapbench.stats.paired import format_pts

    gap = "-" if row.diff is None else format_pts(row.diff)
    ci = "-" if row.ci95 is None else f"{format_pts(row.ci95[0])}..{format_pts(row.ci95[1])}"
    lines = []
    for origin in (row.first, row.second):
        best = row.best.get(origin)
        lines.append(f"{origin} {_pct(best.accuracy)} {best.model}" if best else f"{origin} -")
    return [gap, ci, _gap_verdict(row), "\n".join(lines)]


def print_gap(report: GapReport, title: str, *, wide: bool = False) -> None:
    """The gap per task and overall, then the timeline: one table each, then what they mean.
    Numbers come first and model names last, never split; columns that do not fit go in
    gap_order's order (--wide keeps them)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    first, second = report.first, report.second
    console = _console()

    def table(caption: str, key: str, counted: bool) -> Table:
        t = Table(
            title=caption, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
            padding=(0, 1, 0, 0),
        )  # fmt: skip
        t.add_column(key, no_wrap=True)
        if counted:
            t.add_column("n", justify="right", no_wrap=True)
        t.add_column(f"{first}-{second}", justify="right", no_wrap=True)
        t.add_column("95% CI", justify="right", no_wrap=True)
        t.add_column("verdict", no_wrap=True)
        t.add_column("best model (acc%)")  # may wrap between the accuracy and the id
        return t

    gaps = table(title, "task", counted=True)
    for row in [*report.tasks, report.overall]:
        style = "bold" if row is report.overall else None
        cells = [row.task, str(row.n_shared), *_gap_cells(row)]
        gaps.add_row(*map(escape, cells), style=style)
    # Each table fits on its own, its note under it: the timeline's ids can be longer.
    order = gap_order(first, second, "task")
    print_dropped(console, print_table(gaps, console, order, always=4, wide=wide))
    if report.timeline:
        caption = f"The overall gap as of each release date ({report.overall.n_shared} instances)"
        timeline = table(caption, "as of", counted=False)
        for row in report.timeline:
            when = row.as_of.isoformat() if row.as_of else "-"
            timeline.add_row(when, *map(escape, _gap_cells(row)))
        order = gap_order(first, second, "as of")
        print_dropped(console, print_table(timeline, console, order, always=4, wide=wide))
    console.print(escape(_gap_note(report)), style="dim", highlight=False)


def print_gap_line(row: OriginGap) -> None:
    """One line: the best model of each origin and the gap between them, with its verdict."""
    from rich.markup import escape

    from gapbench.stats.paired import format_pts

    first, second = row.first, row.second
    if row.diff is None or row.ci95 is None:
        text = f"{first} vs {second}: {row.note or 'no gap measured'}"
    else:
        a, b = row.best[first], row.best[second]
        verdict = _gap_verdict(row)
        text = (
            f"{first} vs {second}: best {first} {a.model} ({_pct(a.accuracy)}%) minus best "
            f"{second} {b.model} ({_pct(b.accuracy)}%) = {format_pts(row.diff)} pts (95% CI "
            f"{format_pts(row.ci95[0])}..{format_pts(row.ci95[1])}, best re-selected in every "
            f"resample, n={row.n_shared}): {verdict}; `gapbench gap` shows it per task and over "
            "release dates"
        )
    _console().print(f"\n{escape(text)}", highlight=False, soft_wrap=True)


def _gap_note(report: GapReport) -> str:
    from gapbench.stats.equivalence import format_margin

    first, second = report.first, report.second
    lines = [
        f"{first}-{second}: accuracy of the best {first} model minus that of the best {second} "
        f"model, in points, paired on the n instances every compared model answered (first draw "
        f"and phrasing); 95% CI: paired bootstrap over {report.n_resamples} resamples that picks "
        "the best model of each origin again in every resample, so the selection is part of the "
        f"uncertainty; verdict: equivalent when the 90% CI lies inside "
        f"{format_margin(report.margin)} (--margin), else {first} or {second} ahead when the "
        "95% CI excludes 0, else inconclusive."
    ]
    if report.timeline:
        lines.append(
            "As of a date: the best of each origin among the models released on or before it."
        )
    if report.left_out:
        lines.append(
            f"Not compared (origin neither {first} nor {second}): {', '.join(report.left_out)}."
        )
    if report.undated:
        lines.append(f"No release date, so left out of the timeline: {', '.join(report.undated)}.")
    return " ".join(lines)


def print_verdicts(comparisons: Sequence[PairedComparison]) -> None:
    from rich.markup import escape

    from gapbench.stats.equivalence import format_margin

    console = _console()
    margins = sorted({c.margin for c in comparisons})
    holm = len([c for c in comparisons if c.n_paired]) > 1
    console.print(
        "\n[bold]Paired verdicts[/bold] (same instances; a lead needs the paired bootstrap 95% CI "
        "and exact McNemar p to agree; caught up: the 90% CI inside "
        + " or ".join(format_margin(m) for m in margins)
        + (", --margin" if margins else "")
        + ("; p Holm-adjusted over the pairs" if holm else "")
        + "):",
        highlight=False,
    )
    colours = {"ahead": "green", "behind": "green", "equivalent": "cyan"}
    for comparison in comparisons:
        style = colours.get(comparison.kind, "yellow")
        # Model ids are user text: '[...]' in one must print as written, not as rich markup.
        console.print(
            f"  {escape(comparison.verdict)}", style=style, highlight=False, soft_wrap=True
        )


def print_models(
    specs: Sequence[ModelSpec],
    pulled: Mapping[str, Path | None],
    prices: Mapping[str, PriceQuote | None],
    *,
    wide: bool = False,
) -> None:
    """One row per model; columns that do not fit go in MODELS_ORDER's order (--wide keeps
    them)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from gapbench.backends.registry import entry_of
    from gapbench.catalog.providers import key_status

    table = Table(
        title="Models", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
        padding=(0, 1, 0, 0),
    )  # fmt: skip
    # Names may wrap between words; ids and short fields never wrap.
    for header in ["id", "organisation", "origin", "params", "kind", "quant", "license"]:
        table.add_column(header, no_wrap=header not in ("organisation", "license"))
    for header in ["pulled", "key", "$/M in/out", "price from"]:
        table.add_column(header, no_wrap=True)
    for spec in specs:
        entry = entry_of(spec)
        quote = prices.get(spec.id)
        if entry.billing != "tokens" or spec.id.endswith("<model>"):
            price, source = "-", "-"  # charged by time, or no model named yet
        elif quote is None:
            price, source = "-", "none known"
        else:
            price = f"{quote.input_per_mtok:g}/{quote.output_per_mtok:g}"
            when = quote.date.isoformat() if quote.date else "undated"
            source = "config" if quote.origin == "config" else f"{quote.origin.split()[0]} {when}"
        cells = [
            spec.id,
            spec.organisation,
            spec.origin,
            _params(spec.params),
            spec.kind,
            spec.quantization,
            spec.license,
            ("yes" if pulled.get(spec.id) else "no") if entry.shows_pulled else "n/a",
            key_status(spec),
            price,
            source,
        ]
        table.add_row(*map(escape, cells))
    console = _console()
    print_dropped(console, print_table(table, console, MODELS_ORDER, always=1, wide=wide))
    console.print(escape(backends_line()), highlight=False)
    console.print(
        escape(
            "key: whether the API key variable named in the catalog is set (n/a: none needed). "
            "$/M: USD per million input/output tokens, from your [prices] config, the catalog's "
            "verified price, or the genai-prices package, in that order, with the date the "
            "price took effect (undated: the source gives none; --json has the price page and "
            'notes); none known: set one under [prices."MODEL-ID"] in gapbench.toml. Local '
            "models are charged by time (--usd-per-hour)."
        ),
        style="dim",
    )


def backends_line() -> str:
    """'Backends: ...' with each one's model-reference prefix and, for a plugin's, its package."""
    from gapbench.backends.registry import backend_entries

    parts = []
    for entry in backend_entries():
        form = entry.reference_form or (f"{entry.prefix}..." if entry.prefix else "")
        notes = [form] if form else []
        if entry.source != "gapbench":
            notes.append(f"from {entry.source}")
        parts.append(entry.name + (f" ({', '.join(notes)})" if notes else ""))
    return "Backends: " + ", ".join(parts) + "."


def _params(count: int) -> str:
    if count <= 0:
        return "-"  # not disclosed (API models)
    if count >= 1e12:
        return f"{count / 1e12:.1f}T"
    return f"{count / 1e9:.1f}B" if count >= 1e9 else f"{count / 1e6:.0f}M"


def print_tasks(
    tasks: Sequence[Task],
    suites_of: Mapping[str, list[str]],
    *,
    wide: bool = False,
    sources: Mapping[str, str] | None = None,
) -> None:
    """One row per task family; columns that do not fit go in TASKS_ORDER's order (--wide keeps
    them). A 'from' column names the plugin package of tasks that come from one."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title="Tasks", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
        padding=(0, 1, 0, 0),
    )  # fmt: skip
    # Short fields never wrap; the description takes what width is left.
    for header in ["name", "area", "lang", "levels", "version", "kind"]:
        table.add_column(header, no_wrap=True)
    table.add_column("suites")
    table.add_column("description", min_width=24)
    origins = sources or {}
    from_plugins = any(origins.get(t.name, "gapbench") != "gapbench" for t in tasks)
    if from_plugins:
        table.add_column("from", no_wrap=True)
    for task in tasks:
        cells = [
            task.name,
            task.area,
            task.language,
            " ".join(level[0] for level in task.levels),  # 'e m h': easy, medium, hard
            task.version,
            task.kind,
            " ".join(suites_of.get(task.name, [])),
            task.description,
        ]
        if from_plugins:
            cells.append(origins.get(task.name, "gapbench"))
        table.add_row(*map(escape, cells))
    console = _console()
    # A plugin's tasks add a 'from' column, the first to go when the table does not fit.
    order = (*TASKS_ORDER, "from") if from_plugins else TASKS_ORDER
    dropped = print_table(table, console, order, always=2, wide=wide)
    print_dropped(console, dropped)
    if "levels" not in dropped:
        console.print("levels: e = easy, m = medium, h = hard", style="dim", highlight=False)
