"""Rich tables for the terminal. Rendering only: every number comes from stats/."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from gapbench.catalog.types import ModelSpec
    from gapbench.perf.prices import PriceQuote
    from gapbench.stats.gap import GapReport, OriginGap
    from gapbench.stats.paired import PairedComparison
    from gapbench.stats.summary import ScoreRow
    from gapbench.tasks.base import Task


def _console() -> Console:
    from rich.console import Console

    return Console()


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


def print_leaderboard(rows: Sequence[ScoreRow], title: str, price: float) -> None:
    """One block per model, best overall first: the pooled row, then each task. A pass@k column
    appears only when some instance was drawn several times, so single-draw tables keep their
    width."""
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
    # Task rows sit indented under their model's overall row: one column fewer, so the table
    # still fits an 80-column terminal.
    # A table with answered/planned counts ('7/80') gives the model column 4 characters less.
    short = any(row.n < row.planned for row in rows)
    # The rank interval leads each model's row, as on LMArena's leaderboard; the model column
    # gives up the room it takes.
    ranked = any(row.rank_interval for row in rows)
    if ranked:
        table.add_column("rank", no_wrap=True)
    width = (12 if short else 16) - (6 if ranked else 0)
    table.add_column("model / task", overflow="fold", min_width=width)
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
        name = (f"{row.model} *" if row.pareto else row.model) if overall else f"  {row.task}"
        rank = (row.rank_interval or "-") if overall else ""
        name_cells = [rank, name] if ranked else [name]
        table.add_row(*name_cells, *cells, style="bold" if overall else None)
    console.print(table)
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
    """CN-US, 95% CI, verdict, then the best model of each origin with its accuracy."""
    from gapbench.stats.paired import format_pts

    gap = "-" if row.diff is None else format_pts(row.diff)
    ci = "-" if row.ci95 is None else f"{format_pts(row.ci95[0])}..{format_pts(row.ci95[1])}"
    cells = [gap, ci, _gap_verdict(row)]
    for origin in (row.first, row.second):
        best = row.best.get(origin)
        cells.append(f"{_pct(best.accuracy)} {best.model}" if best else "-")
    return cells


def print_gap(report: GapReport, title: str) -> None:
    """The gap per task and overall, then the timeline: one table each, then what they mean.
    Numbers come first and model names last, where long ids can fold without pushing the
    figures apart."""
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
        for origin in (first, second):
            t.add_column(f"acc% best {origin}", overflow="fold", min_width=8)
        return t

    gaps = table(title, "task", counted=True)
    for row in [*report.tasks, report.overall]:
        style = "bold" if row is report.overall else None
        cells = [row.task, str(row.n_shared), *_gap_cells(row)]
        gaps.add_row(*map(escape, cells), style=style)
    console.print(gaps)
    if report.timeline:
        caption = f"The overall gap as of each release date ({report.overall.n_shared} instances)"
        timeline = table(caption, "as of", counted=False)
        for row in report.timeline:
            when = row.as_of.isoformat() if row.as_of else "-"
            timeline.add_row(when, *map(escape, _gap_cells(row)))
        console.print(timeline)
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
) -> None:
    from rich.markup import escape
    from rich.table import Table

    from gapbench.catalog.providers import key_status

    table = Table(title="Models", title_justify="left")
    table.add_column("id", no_wrap=True)
    for header in ["organisation", "origin", "params", "kind", "quant", "license", "pulled", "key"]:
        table.add_column(header)
    table.add_column("$/M in/out", no_wrap=True)
    table.add_column("price from", no_wrap=True)
    for spec in specs:
        local = spec.backend == "llamacpp"
        quote = prices.get(spec.id)
        if spec.backend != "openai" or spec.id.endswith("<model>"):
            price, source = "-", "-"  # charged by time, or no model named yet
        elif quote is None:
            price, source = "-", "none known"
        else:
            price = f"{quote.input_per_mtok:g}/{quote.output_per_mtok:g}"
            when = quote.date.isoformat() if quote.date else "undated"
            source = "config" if quote.origin == "config" else f"{quote.origin.split()[0]} {when}"
        table.add_row(
            spec.id,
            spec.organisation,
            spec.origin,
            _params(spec.params),
            spec.kind,
            spec.quantization,
            spec.license,
            ("yes" if pulled.get(spec.id) else "no") if local else "n/a",
            key_status(spec),
            price,
            source,
        )
    _console().print(table)
    _console().print(
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


def _params(count: int) -> str:
    if count <= 0:
        return "-"  # not disclosed (API models)
    if count >= 1e12:
        return f"{count / 1e12:.1f}T"
    return f"{count / 1e9:.1f}B" if count >= 1e9 else f"{count / 1e6:.0f}M"


def print_tasks(tasks: Sequence[Task], suites_of: Mapping[str, list[str]]) -> None:
    from rich.table import Table

    table = Table(title="Tasks", title_justify="left")
    # Short fields never wrap; the description takes what width is left.
    for header in ["name", "area", "lang", "levels", "version", "kind"]:
        table.add_column(header, no_wrap=True)
    table.add_column("suites")
    table.add_column("description", min_width=24)
    for task in tasks:
        table.add_row(
            task.name,
            task.area,
            task.language,
            " ".join(level[0] for level in task.levels),  # 'e m h': easy, medium, hard
            task.version,
            task.kind,
            " ".join(suites_of.get(task.name, [])),
            task.description,
        )
    table.caption = "levels: e = easy, m = medium, h = hard"
    _console().print(table)
