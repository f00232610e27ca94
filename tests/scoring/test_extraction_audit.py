"""Agreement between the answer extractors and a human reading of real model outputs.

data/extraction_audit.jsonl holds outputs of the three offline demo models (SmolLM2-135M,
Gemma-3-270M, Qwen2.5-Coder-0.5B) on every family the text extractors score, collected by
benchmarks/collect_audit_outputs.py with the CLI's max_tokens, so that real truncations and
repetition loops are in it. Each record's `label` is the final answer a careful reader would say
the model gave (not the correct answer), or null when it gave none; `note` explains hard cases.
Each record also carries how its generation ended: `finish_reason` ('stop' or 'length'), the
`completion_tokens` spent and the `max_tokens` allowed. Legacy records (seed 0, labelled before
finish reasons were stored) whose output did not regenerate byte for byte on the collecting
machine keep finish_reason 'unknown', with completion_tokens measured by re-tokenizing the output
(`completion_tokens_source`: 'retokenized').

The test scores each output through the runner's own `score_generation`, with the stored finish
reason and token counts, and compares the extracted value with the label using the family's own
equality.

See the disagreements with: pytest tests/scoring/test_extraction_audit.py -rP
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gapbench.backends.types import Generation, GenerationRequest, SamplingParams, Timing
from gapbench.runner import PlannedSample, score_generation
from gapbench.scoring.extract import numbers_equal
from gapbench.scoring.review import Ending, score_output
from gapbench.scoring.structured import (
    arabic_value,
    kanji_value,
    read_date,
    read_era_year,
    read_int_list,
    words_of,
)
from gapbench.store.records import SampleKey
from gapbench.tasks.base import Instance
from gapbench.tasks.registry import get_task, list_tasks

AUDIT_FILE = Path(__file__).parent / "data" / "extraction_audit.jsonl"
MIN_RECORDS = 400
MODELS = {"smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct"}
# History (docs/benchmarks.md, "Answer extraction audit"): 0.780 (206/264) when the first set was
# labelled; 0.795 (210/264) once "is 2/11." kept its denominator. On the grown set of 2026-12-01
# (456 records) the extractor of that time agreed on 0.792 (361/456): 0.954 (313/328) where the
# reader saw an answer, 0.375 (48/128) where they saw none. With the finish reason and the
# output's shape reaching scoring (scoring/review.py): 0.978 (446/456), 0.982 (322/328) and 0.969
# (124/128); 1.000 (237/237) where the reader saw an answer and the finish reason was recorded.
# Four legacy labels then read a value said in passing in outputs cut at max_tokens or looping
# with no answer line; the rule for cut outputs reads no answer there, as the 192 new
# records were labelled, so they were relabelled null (their notes say so): 0.987 (450/456),
# 0.994 (322/324) and 0.970 (128/132). The bars sit just under those figures, so that a change
# that loses a few readings fails here.
MIN_AGREEMENT = 0.98
MIN_AGREEMENT_ANSWERED = 0.99
"""Where the reader saw an answer (the issue's bar)."""
MIN_AGREEMENT_ANSWERED_KNOWN = 0.99
"""Where the reader saw an answer and the record's finish reason was recorded or regenerated."""


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


_RESPONSE_CHARS = 300  # if_words stores the first 300 characters of the response


def _same_response(label: str, extracted: str) -> bool:
    """The same words, in order; the stored response is cut at 300 characters, so only its
    complete words are compared then."""
    want, got = words_of(label), words_of(extracted)
    if len(extracted) >= _RESPONSE_CHARS:
        got = got[:-1]
        want = want[: len(got)]
    return bool(got) and got == want


def _same_json(label: str, extracted: str) -> bool:
    """The same object; the stored object is canonical JSON (sorted keys) cut at 500 characters."""
    canonical = json.dumps(json.loads(label), ensure_ascii=False, sort_keys=True)
    return canonical[:500] == extracted


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
    "ja_numbers": _same_numeral,
    "ja_era": _same_era_answer,
    "if_words": _same_response,
    "if_json": _same_json,
}
CODE_FAMILIES = {"code_gen", "humaneval"}  # scored by running the code, not by these readers


def _agrees(task: str, label: str | None, extracted: str | None) -> bool:
    if label is None or extracted is None:
        return label is None and extracted is None
    return EQUALITY[task](label, extracted)


def _instance(record: dict[str, Any]) -> Instance:
    return Instance(
        task=record["task"],
        task_version=record["task_version"],
        seed=record["seed"],
        index=record["index"],
        difficulty=record["difficulty"],
        question=record["question"],
        answer=record["reference"],
    )


def _ending(record: dict[str, Any]) -> Ending:
    return Ending(record["finish_reason"], record["completion_tokens"], record["max_tokens"])


def _extract(record: dict[str, Any]) -> str | None:
    """What the runner stores today for this output, with the record's finish reason and token
    counts: the runner's own score_generation, not a copy of it."""
    task = get_task(record["task"])
    sampling = SamplingParams(max_tokens=record["max_tokens"])
    instance = _instance(record)
    key = SampleKey(
        model_id=record["model"],
        task=task.name,
        task_version=task.version,
        seed=instance.seed,
        index=instance.index,
        difficulty=instance.difficulty,
        settings_hash="audit",
    )
    request = GenerationRequest("audit", sampling, prompt="-")
    planned = PlannedSample(key, task, instance, request, "-", sampling)
    generation = Generation(
        request_id="audit",
        text=record["output"],
        prompt_tokens=0,
        completion_tokens=record["completion_tokens"],
        finish_reason=record["finish_reason"],
        timing=Timing(0.0, 0.0),
    )
    return score_generation(planned, generation, run_id=0).extracted


def _describe(record: dict[str, Any], extracted: str | None) -> str:
    # The method says why (the store keeps no method): read the same way, for the report only.
    task = get_task(record["task"])
    method = score_output(task, _instance(record), record["output"], _ending(record)).method
    tail = record["output"][-160:].replace("\n", "\\n")
    return (
        f"{record['id']} [{record['finish_reason']}, {record['completion_tokens']}/"
        f"{record['max_tokens']} tokens]: label={record['label']!r} extracted={extracted!r}"
        f" by {method} ({record['note'] or 'no note'})\n    ...{tail}"
    )


def test_audit_set_is_large_labelled_and_covers_every_text_family() -> None:
    assert len(RECORDS) >= MIN_RECORDS
    assert len({r["id"] for r in RECORDS}) == len(RECORDS)
    assert not [r["id"] for r in RECORDS if r.get("needs_label")], "label every record first"
    text_families = {t.name for t in list_tasks()} - CODE_FAMILIES
    assert set(EQUALITY) == text_families
    by_family: dict[str, set[str]] = {}
    for r in RECORDS:
        by_family.setdefault(r["task"], set()).add(r["model"])
    assert by_family == {family: MODELS for family in text_families}
    assert AUDIT_FILE.stat().st_size < 2_000_000


def test_records_say_how_their_generation_ended() -> None:
    finishes = Counter(r["finish_reason"] for r in RECORDS)
    assert set(finishes) <= {"stop", "length", "unknown"}
    # Outputs cut at max_tokens and repetition loops are what the audit must cover.
    assert finishes["length"] >= 60
    assert sum(r["label"] is None for r in RECORDS) >= 100
    for r in RECORDS:
        assert isinstance(r["completion_tokens"], int) and r["max_tokens"] in (160, 192, 256)
        if r["finish_reason"] == "unknown":  # legacy outputs that did not regenerate
            assert r["completion_tokens_source"] == "retokenized"
        else:
            assert "completion_tokens_source" not in r
            assert (r["finish_reason"] == "length") == (r["completion_tokens"] >= r["max_tokens"])


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
    counts: Counter[str] = Counter()
    disagreements = []
    for record in RECORDS:
        extracted = _extract(record)
        kinds = ["all", "unanswered" if record["label"] is None else "answered"]
        if record["label"] is not None and record["finish_reason"] != "unknown":
            kinds.append("answered, finish known")
        agrees = _agrees(record["task"], record["label"], extracted)
        for kind in kinds:
            counts[kind] += 1
            counts[f"{kind} agree"] += agrees
        if not agrees:
            disagreements.append(_describe(record, extracted))

    def share(kind: str) -> float:
        return counts[f"{kind} agree"] / counts[kind]

    figures = "; ".join(
        f"{kind} {share(kind):.3f} ({counts[kind + ' agree']}/{counts[kind]})"
        for kind in ("all", "answered", "unanswered", "answered, finish known")
    )
    report = f"extraction agreement: {figures}; disagreements:\n" + "\n".join(disagreements)
    print(report)
    if disagreements:
        warnings.warn(report, stacklevel=1)
    assert share("all") >= MIN_AGREEMENT, report
    assert share("answered") >= MIN_AGREEMENT_ANSWERED, report
    assert share("answered, finish known") >= MIN_AGREEMENT_ANSWERED_KNOWN, report


@pytest.mark.parametrize("task", sorted(EQUALITY))
def test_family_equality_is_not_trivial(task: str) -> None:
    # Each equality must tell two different answers of its own kind apart.
    samples = {
        "knights": ("Alice, Bruno", "Alice"),
        "lists": ("[1, 2, 3]", "[1, 3, 2]"),
        "logic": ("Alice", "Bruno"),
        "boolean": ("True", "False"),
        "zh_numbers": ("三万零五", "30005"),
        "ja_numbers": ("三万五", "30005"),
        "ja_era": ("平成31年", "令和1年"),
        "if_words": ("The lamp and the rocks", "The lamp and the ships"),
        "if_json": ('{"a": 1}', '{"a": 2}'),
    }
    same, other = samples.get(task, ("42", "41"))
    if task == "if_json":  # the stored side is canonical JSON
        assert EQUALITY[task](same, '{"a": 1}') and not EQUALITY[task](same, other)
        return
    assert EQUALITY[task](same, same)
    assert not EQUALITY[task](same, other)
