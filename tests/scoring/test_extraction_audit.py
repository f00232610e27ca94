"""Agreement between the answer extractors and a human reading of real model outputs.

data/extraction_audit.jsonl holds outputs of the three offline demo models (SmolLM2-135M,
Gemma-3-270M, Qwen2.5-Coder-0.5B) on 13 families, collected by
benchmarks/collect_audit_outputs.py. Each record's `label` is the final answer a careful reader
would say the model gave (not the correct answer), or null when the model gave none; `note`
explains hard cases. The test runs each family's own scoring on the output, exactly as the runner
does, and compares the extracted value with the label using the family's own equality.

See the disagreements with: pytest tests/scoring/test_extraction_audit.py -rP
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gapbench.scoring.extract import numbers_equal
from gapbench.scoring.structured import (
    arabic_value,
    kanji_value,
    read_date,
    read_era_year,
    read_int_list,
)
from gapbench.tasks.base import Instance
from gapbench.tasks.registry import get_task

AUDIT_FILE = Path(__file__).parent / "data" / "extraction_audit.jsonl"
MIN_RECORDS = 200
# Measured when the set was labelled: 0.780 (206/264); 0.934 where the model gave an answer, 0.338
# where it gave none (the last-number fallback reads step numbers and echoed question numbers out of
# degenerate loops). Then 0.795 (210/264) once a fraction before a full stop ("is 2/11.") kept its
# denominator. The margin is small so that a change that loses a few readings fails here.
MIN_AGREEMENT = 0.78


def _load() -> list[dict[str, Any]]:
    lines = AUDIT_FILE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


RECORDS = _load()


def _same_number(a: str, b: str) -> bool:
    return numbers_equal(a, b)


def _same_name(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def _name_set(text: str) -> frozenset[str]:
    text = text.strip().casefold()
    return frozenset() if text == "none" else frozenset(p.strip() for p in text.split(","))


def _same_name_set(a: str, b: str) -> bool:
    return _name_set(a) == _name_set(b)


def _same_list(a: str, b: str) -> bool:
    x, y = read_int_list(a), read_int_list(b)
    return x is not None and x == y


def _same_numeral(a: str, b: str) -> bool:
    """Same script and value: the numeral families grade the script, so '12' is not '十二'."""
    if arabic_value(a) is not None:
        return arabic_value(a) == arabic_value(b)
    x = kanji_value(a, colloquial=True)
    return (x is not None and x == kanji_value(b, colloquial=True)) or a == b


def _same_era_answer(a: str, b: str) -> bool:
    """Dates as dates, era years as (era, year), anything else as numbers."""
    if read_date(a) is not None:
        return read_date(a) == read_date(b)
    if read_era_year(a) is not None:
        return read_era_year(a) == read_era_year(b)
    return numbers_equal(a, b)


EQUALITY: dict[str, Callable[[str, str], bool]] = {
    "arith": _same_number,
    "zh_arith": _same_number,
    "ja_arith": _same_number,
    "percent": _same_number,
    "fractions": _same_number,
    "modular": _same_number,
    "linear": _same_number,
    "logic": _same_name,
    "boolean": _same_name,
    "knights": _same_name_set,
    "lists": _same_list,
    "zh_numbers": _same_numeral,
    "ja_era": _same_era_answer,
}


def _agrees(task: str, label: str | None, extracted: str | None) -> bool:
    if label is None or extracted is None:
        return label is None and extracted is None
    return EQUALITY[task](label, extracted)


def _extract(record: dict[str, Any]) -> str | None:
    """What the family's scoring reads from the output today, on the stored instance."""
    task = get_task(record["task"])
    instance = Instance(
        task=record["task"],
        task_version=record["task_version"],
        seed=record["seed"],
        index=record["index"],
        difficulty=record["difficulty"],
        question=record["question"],
        answer=record["reference"],
    )
    return task.score(instance, record["output"]).extracted


def _describe(record: dict[str, Any], extracted: str | None) -> str:
    tail = record["output"][-160:].replace("\n", "\\n")
    return (
        f"{record['id']}: label={record['label']!r} extracted={extracted!r}"
        f" ({record['note'] or 'no note'})\n    ...{tail}"
    )


def test_audit_set_is_large_labelled_and_known() -> None:
    assert len(RECORDS) >= MIN_RECORDS
    assert len({r["id"] for r in RECORDS}) == len(RECORDS)
    assert not [r["id"] for r in RECORDS if r.get("needs_label")], "label every record first"
    assert {r["task"] for r in RECORDS} <= set(EQUALITY)
    assert len({r["model"] for r in RECORDS}) >= 3
    assert AUDIT_FILE.stat().st_size < 1_000_000


def test_labels_were_read_not_copied_from_the_extractor() -> None:
    # If every label equalled what the extractor stored at collection time, the labels could have
    # been copied, and the agreement below would measure nothing.
    differing = [
        r for r in RECORDS if not _agrees(r["task"], r["label"], r["extracted_at_collection"])
    ]
    assert differing
    # Null labels (no answer given) and hard cases must be explained.
    assert all(r["note"] for r in differing)


def test_extractors_agree_with_human_labels() -> None:
    disagreements = []
    for record in RECORDS:
        extracted = _extract(record)
        if not _agrees(record["task"], record["label"], extracted):
            disagreements.append(_describe(record, extracted))
    agreement = 1 - len(disagreements) / len(RECORDS)
    report = (
        f"extraction agreement {agreement:.3f} ({len(RECORDS) - len(disagreements)}"
        f"/{len(RECORDS)}); disagreements:\n" + "\n".join(disagreements)
    )
    print(report)
    if disagreements:
        warnings.warn(report, stacklevel=1)
    assert agreement >= MIN_AGREEMENT, report


@pytest.mark.parametrize("task", sorted(EQUALITY))
def test_family_equality_is_not_trivial(task: str) -> None:
    # Each equality must tell two different answers of its own kind apart.
    samples = {
        "knights": ("Alice, Bruno", "Alice"),
        "lists": ("[1, 2, 3]", "[1, 3, 2]"),
        "logic": ("Alice", "Bruno"),
        "boolean": ("True", "False"),
        "zh_numbers": ("三万零五", "30005"),
        "ja_era": ("平成31年", "令和1年"),
    }
    same, other = samples.get(task, ("42", "41"))
    assert EQUALITY[task](same, same)
    assert not EQUALITY[task](same, other)
