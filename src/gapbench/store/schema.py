"""The current table layout, as the repository sees it, and conversions between rows and records.

The tables themselves are created and changed only by migrations.py; this module names the columns
of the latest schema in one place so that queries and records cannot drift apart.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, cast

from gapbench.store.records import (
    RunHolder,
    RunInfo,
    RunMeasures,
    RunRow,
    RunStatus,
    SampleKey,
    SampleRecord,
)

KEY_COLUMNS: tuple[str, ...] = (
    "model_id",
    "task",
    "task_version",
    "seed",
    "instance_index",
    "difficulty",
    "settings_hash",
    "draw",
)
"""A sample's identity; the samples table has a UNIQUE constraint on exactly these."""

SAMPLE_VALUE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "prompt",
    "output",
    "reasoning",
    "extracted",
    "extraction_ok",
    "correct",
    "reference",
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
    "ttft_s",
    "latency_s",
    "error",
    "created_at",
    "reasoning_tokens",
    "retries",
    "prompt_style",
    "prompt_variant",
    "score_method",
)
SAMPLE_COLUMNS: tuple[str, ...] = KEY_COLUMNS + SAMPLE_VALUE_COLUMNS

RUN_ROW_COLUMNS: tuple[str, ...] = (
    "id",
    "status",
    "finished_at",
    "generation_seconds",
    "peak_rss_mb",
    "latency_seconds",
    "generations",
    "host",
    "pid",
    "process_started",
    "lease_expires_at",
)
"""Columns of a run that the store maintains, as opposed to the provenance the caller gives."""

RUN_INFO_COLUMNS: tuple[str, ...] = (
    "gapbench_version",
    "model_id",
    "model_sha256",
    "backend",
    "engine_version",
    "sampling",
    "settings_hash",
    "threads",
    "batch_size",
    "device",
    "command",
    "created_at",
)


def run_values(info: RunInfo) -> tuple[Any, ...]:
    """Column values of RUN_INFO_COLUMNS for a run, in that order."""
    return (
        info.gapbench_version,
        info.model_id,
        info.model_sha256,
        info.backend,
        info.engine_version,
        json.dumps(info.sampling, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        info.settings_hash,
        info.threads,
        info.batch_size,
        info.device,
        info.command,
        info.created_at,
    )


def run_from_row(row: sqlite3.Row) -> RunRow:
    """A RunRow from a `SELECT <RUN_ROW_COLUMNS>, <RUN_INFO_COLUMNS>` row."""
    sampling = json.loads(row["sampling"])
    info = RunInfo(
        gapbench_version=row["gapbench_version"],
        model_id=row["model_id"],
        model_sha256=row["model_sha256"],
        backend=row["backend"],
        engine_version=row["engine_version"],
        sampling=cast(dict[str, object], sampling),
        settings_hash=row["settings_hash"],
        threads=row["threads"],
        batch_size=row["batch_size"],
        device=row["device"],
        command=row["command"],
        created_at=row["created_at"],
    )
    status = cast(RunStatus, row["status"])
    measures = None
    if row["generation_seconds"] is not None:
        measures = RunMeasures(
            row["generation_seconds"],
            row["peak_rss_mb"],
            latency_seconds=row["latency_seconds"],
            generations=row["generations"],
        )
    holder = None
    if row["host"] is not None:
        holder = RunHolder(
            row["host"], row["pid"], row["process_started"] or "", row["lease_expires_at"]
        )
    return RunRow(
        id=row["id"],
        info=info,
        status=status,
        finished_at=row["finished_at"],
        measures=measures,
        holder=holder,
    )


def key_values(key: SampleKey) -> tuple[Any, ...]:
    """Column values of KEY_COLUMNS for a key, in that order."""
    return (
        key.model_id,
        key.task,
        key.task_version,
        key.seed,
        key.index,
        key.difficulty,
        key.settings_hash,
        key.draw,
    )


def sample_values(rec: SampleRecord) -> tuple[Any, ...]:
    """Column values of SAMPLE_COLUMNS for a sample, in that order."""
    return (
        *key_values(rec.key),
        rec.run_id,
        rec.prompt,
        rec.output,
        rec.reasoning,
        rec.extracted,
        int(rec.extraction_ok),
        int(rec.correct),
        rec.reference,
        rec.prompt_tokens,
        rec.completion_tokens,
        rec.finish_reason,
        rec.ttft_s,
        rec.latency_s,
        rec.error,
        rec.created_at,
        rec.reasoning_tokens,
        rec.retries,
        rec.prompt_style,
        rec.prompt_variant,
        rec.score_method,
    )


def sample_from_row(row: sqlite3.Row) -> SampleRecord:
    """A SampleRecord from a `SELECT <SAMPLE_COLUMNS>` row."""
    key = SampleKey(
        model_id=row["model_id"],
        task=row["task"],
        task_version=row["task_version"],
        seed=row["seed"],
        index=row["instance_index"],
        difficulty=row["difficulty"],
        settings_hash=row["settings_hash"],
        draw=row["draw"],
    )
    return SampleRecord(
        key=key,
        run_id=row["run_id"],
        prompt=row["prompt"],
        output=row["output"],
        reasoning=row["reasoning"],
        extracted=row["extracted"],
        extraction_ok=bool(row["extraction_ok"]),
        correct=bool(row["correct"]),
        reference=row["reference"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        finish_reason=row["finish_reason"],
        ttft_s=row["ttft_s"],
        latency_s=row["latency_s"],
        error=row["error"],
        created_at=row["created_at"],
        reasoning_tokens=row["reasoning_tokens"],
        retries=row["retries"],
        prompt_style=row["prompt_style"],
        prompt_variant=row["prompt_variant"],
        score_method=row["score_method"],
    )
