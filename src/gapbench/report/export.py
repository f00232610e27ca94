"""`gapbench export`: samples, leaderboard rows or paired verdicts as CSV, JSON Lines or Parquet.

The columns, their order and their types are fixed here and documented in docs/export.md; a
test checks the two agree. Samples stream from SQLite in batches, so an export of a million
samples never holds them all in memory. Nested values (pass@k, reasons, phrasings) are JSON
objects in JSON Lines and JSON text in CSV and Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from gapbench.report.views import ReportOptions

SAMPLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sample_id", "int"),
    ("model_id", "str"),
    ("task", "str"),
    ("task_version", "str"),
    ("seed", "int"),
    ("instance_index", "int"),
    ("difficulty", "str"),
    ("draw", "int"),
    ("settings_hash", "str"),
    ("run_id", "int"),
    ("prompt_style", "str"),
    ("prompt_variant", "int"),
    ("prompt", "str"),
    ("output", "str"),
    ("reasoning", "str"),
    ("extracted", "str"),
    ("reference", "str"),
    ("correct", "bool"),
    ("extraction_ok", "bool"),
    ("score_method", "str"),
    ("finish_reason", "str"),
    ("error", "str"),
    ("prompt_tokens", "int"),
    ("completion_tokens", "int"),
    ("reasoning_tokens", "int"),
    ("ttft_s", "float"),
    ("latency_s", "float"),
    ("retries", "int"),
    ("created_at", "float"),
)

LEADERBOARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("model", "str"),
    ("task", "str"),
    ("rank", "int"),
    ("rank_low", "int"),
    ("rank_high", "int"),
    ("rank_instances", "int"),
    ("answered", "int"),
    ("planned", "int"),
    ("failed", "int"),
    ("instances", "int"),
    ("draws_per_instance", "int"),
    ("correct", "int"),
    ("accuracy", "float"),
    ("ci_low", "float"),
    ("ci_high", "float"),
    ("extraction_failures", "int"),
    ("extraction_failure_rate", "float"),
    ("completion_tokens", "int"),
    ("reasoning_tokens", "int"),
    ("tokens_per_s", "float"),
    ("p50_latency_s", "float"),
    ("p90_latency_s", "float"),
    ("p99_latency_s", "float"),
    ("p50_ttft_s", "float"),
    ("p50_tpot_s", "float"),
    ("cost_usd", "float"),
    ("usd_per_correct", "float"),
    ("usd_per_mtok", "float"),
    ("peak_rss_mb", "float"),
    ("retries", "int"),
    ("unsafe_sandbox", "int"),
    ("pareto", "bool"),
    ("phrasing_spread", "float"),
    ("pass_at_k", "json"),
    ("no_answer_reasons", "json"),
    ("phrasings", "json"),
)

COMPARE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("model_a", "str"),
    ("model_b", "str"),
    ("kind", "str"),
    ("verdict", "str"),
    ("n_paired", "int"),
    ("accuracy_a", "float"),
    ("accuracy_b", "float"),
    ("diff", "float"),
    ("ci_low", "float"),
    ("ci_high", "float"),
    ("confidence", "float"),
    ("p_value", "float"),
    ("p_value_holm", "float"),
    ("margin", "float"),
    ("ci90_low", "float"),
    ("ci90_high", "float"),
    ("equivalence_p", "float"),
    ("equivalence_p_holm", "float"),
    ("holm_pairs", "int"),
    ("only_a", "int"),
    ("only_b", "int"),
    ("more_instances", "int"),
    ("significant", "bool"),
    ("phrasing_gaps", "json"),
)

COLUMNS = {
    "samples": SAMPLE_COLUMNS,
    "leaderboard": LEADERBOARD_COLUMNS,
    "compare": COMPARE_COLUMNS,
}
BATCH = 5000


def _sample_batches(opts: ReportOptions) -> Iterator[list[dict[str, Any]]]:
    from gapbench.report.views import open_results, selection

    names = [name for name, _ in SAMPLE_COLUMNS]
    select = ", ".join("s.id" if n == "sample_id" else f"s.{n}" for n in names)
    order = (
        "s.model_id, s.task, s.task_version, s.seed, s.instance_index, s.difficulty, "
        "s.settings_hash, s.draw"
    )
    with open_results(opts.db_path) as conn:
        where, params = selection(conn, opts).where()
        cursor = conn.execute(
            f"SELECT {select} FROM samples AS s WHERE {where} ORDER BY {order}", params
        )
        while batch := cursor.fetchmany(BATCH):
            yield [
                {
                    n: (bool(v) if t == "bool" else v)
                    for (n, t), v in zip(SAMPLE_COLUMNS, row, strict=True)
                }
                for row in batch
            ]


def _summary_rows(opts: ReportOptions, what: str) -> list[dict[str, Any]]:
    from gapbench.report.views import open_results, summary_view

    with open_results(opts.db_path) as conn:
        view = summary_view(conn, opts)
    rows: list[dict[str, Any]] = view["leaderboard"] if what == "leaderboard" else view["pairs"]
    return [{name: row.get(name) for name, _ in COLUMNS[what]} for row in rows]


def batches(opts: ReportOptions, what: str) -> Iterator[list[dict[str, Any]]]:
    """The rows of an export, a batch at a time, with exactly the documented columns."""
    if what == "samples":
        yield from _sample_batches(opts)
    else:
        yield _summary_rows(opts, what)


def _flat(value: object, kind: str) -> object:
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def _json_line(row: dict[str, Any]) -> str:
    """One JSON Lines record. U+2028 and U+2029 are escaped: valid JSON raw, but line splitters
    (Python's str.splitlines among them) would cut the record there."""
    text = json.dumps(row, ensure_ascii=False, allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def _write_text(handle: IO[str], fmt: str, what: str, rows: Iterator[list[dict[str, Any]]]) -> int:
    columns = COLUMNS[what]
    count = 0
    if fmt == "csv":
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([name for name, _ in columns])
        for batch in rows:
            for row in batch:
                writer.writerow(["" if row[n] is None else _flat(row[n], t) for n, t in columns])
            count += len(batch)
        return count
    for batch in rows:
        for row in batch:
            handle.write(_json_line(row))
        count += len(batch)
    return count


def _arrow_schema(columns: Sequence[tuple[str, str]]) -> Any:
    import pyarrow as pa

    types = {
        "int": pa.int64(),
        "str": pa.string(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "json": pa.string(),
    }
    return pa.schema([(name, types[kind]) for name, kind in columns])


def _write_parquet(out: Path, what: str, rows: Iterator[list[dict[str, Any]]]) -> int:
    from gapbench.errors import UsageError

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(
            "Parquet export needs pyarrow: install it with `pip install 'gapbench[parquet]'` "
            "or pick --format csv or jsonl."
        ) from None
    columns = COLUMNS[what]
    schema = _arrow_schema(columns)
    count = 0
    with pq.ParquetWriter(str(out), schema) as writer:
        for batch in rows:
            data = {
                n: [_flat(r[n], t) if r[n] is not None else None for r in batch] for n, t in columns
            }
            writer.write_table(pa.Table.from_pydict(data, schema=schema))
            count += len(batch)
    return count


def export_to(opts: ReportOptions, what: str, fmt: str, out: Path | None) -> int:
    """Write the export to `out` (atomically) or to standard output; returns the row count."""
    import os
    import tempfile

    rows = batches(opts, what)
    first = next(rows, None)  # bad input fails here, before anything is written

    def all_rows() -> Iterator[list[dict[str, Any]]]:
        if first is not None:
            yield first
        yield from rows

    if out is None:
        stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
        try:
            return _write_text(stream, fmt, what, all_rows())
        finally:
            stream.flush()
            stream.detach()
    parent = out.parent if str(out.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    try:
        if fmt == "parquet":
            count = _write_parquet(Path(tmp), what, all_rows())
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                count = _write_text(handle, fmt, what, all_rows())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
