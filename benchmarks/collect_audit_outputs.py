"""Collect real model outputs for the answer-extraction audit set.

The set lives in tests/scoring/data/extraction_audit.jsonl. This script runs `gapbench run` for
each (family, model, difficulty) of PLAN, then exports every sample of the SQLite store as one
JSONL record: the output, how the generation ended (`finish_reason`, `completion_tokens`, the
`max_tokens` it ran under), what the extractor stored at collection time, and the instance's
question and reference (regenerated from the task, so the test can build the real instance).

Records already in the audit file are never dropped or relabelled: a re-collection only adds
outputs it has not seen, with `label` = None and `needs_label` = true, to be read and labelled by
a person before the test is meaningful. Run it from a checkout of the extractor to be audited
(PYTHONPATH=<checkout>/src), so `extracted_at_collection` records what that extractor read.

    GAPBENCH_CACHE=<pulled models> .venv/bin/python benchmarks/collect_audit_outputs.py \\
        --db /tmp/audit.db --out tests/scoring/data/extraction_audit.jsonl

--reproduce-legacy regenerates the first collection (2026-11-23: seed 0, easy, max_tokens 160,
which stored no finish reason) into its own database and copies `finish_reason` and
`completion_tokens` onto each old record whose output comes back byte for byte: greedy decoding
is deterministic on one machine, but not across CPUs and builds, so the records that do not come
back keep finish_reason 'unknown'. For those, --retokenize-legacy measures `completion_tokens`
by tokenizing the output with the model's own tokenizer (`completion_tokens_source`:
'retokenized'), so that scoring can tell, as the runner does from its own count, whether the
generation spent every token it was allowed; a round trip through text can shift the count by a
token, which only ever hides a cut. --export-only skips generation.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Every family the text extractors score (code_gen and humaneval run code instead).
FAMILIES = (
    "arith",
    "zh_arith",
    "ja_arith",
    "logic",
    "knights",
    "percent",
    "fractions",
    "modular",
    "linear",
    "zh_numbers",
    "ja_numbers",
    "ja_era",
    "boolean",
    "lists",
    "if_words",
    "if_json",
)
SEED = 1  # seed 0 easy is the legacy collection: a new seed gives new instances and new ids
MAX_TOKENS = 256  # the CLI's default, so truncations and loops occur as they do in real runs
# Instances per (model, difficulty) for every family. SmolLM gets the most because it is fast and
# degenerates most often (loops, echoed questions): those outputs are what the audit must cover.
PLAN: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    ("smollm2-135m-instruct", (("easy", 2), ("medium", 2), ("hard", 1))),
    ("gemma-3-270m", (("easy", 2), ("medium", 1), ("hard", 1))),
    ("qwen2.5-coder-0.5b-instruct", (("easy", 1), ("medium", 1), ("hard", 1))),
)
# The legacy collection, for --reproduce-legacy: (id suffix, families, model, difficulty, n,
# max_tokens). The caps of the suffixed runs were read off their outputs' token counts.
LEGACY_FAMILIES = FAMILIES[:10] + FAMILIES[11:14]
LEGACY: tuple[tuple[str, tuple[str, ...], str, str, int, int], ...] = (
    ("", LEGACY_FAMILIES, "smollm2-135m-instruct", "easy", 9, 160),
    ("", LEGACY_FAMILIES, "gemma-3-270m", "easy", 6, 160),
    ("", LEGACY_FAMILIES, "qwen2.5-coder-0.5b-instruct", "easy", 2, 160),
    ("#r1", ("arith", "logic", "zh_arith"), "smollm2-135m-instruct", "easy", 5, 256),
    ("#q8", ("arith", "logic", "zh_arith"), "qwen2.5-coder-0.5b-instruct", "medium", 8, 192),
    ("#qa", ("arith",), "qwen2.5-coder-0.5b-instruct", "easy", 4, 256),
)
LEGACY_CAPS = {suffix: cap for suffix, *_, cap in LEGACY}


@dataclass(frozen=True)
class Engine:
    """How the CLI decodes: batch size 1 (its default) is deterministic on one machine."""

    batch_size: int = 1
    threads: int = 2


def _run(
    db: Path, model: str, family: str, level: str, n: int, seed: int, cap: int, engine: Engine
) -> None:
    gapbench = Path(sys.executable).with_name("gapbench")
    cmd = [
        str(gapbench),
        "run",
        *("--model", model, "--task", family, "--n", str(n), "--seed", str(seed)),
        *("--difficulty", level, "--max-tokens", str(cap), "--db", str(db)),
        *("--batch-size", str(engine.batch_size), "--threads", str(engine.threads)),
    ]
    print(" ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def collect(db: Path, models: Sequence[str], families: Sequence[str]) -> None:
    """Generate PLAN's outputs with the CLI (resumable: the store skips what it already holds)."""
    for family in families or FAMILIES:
        for model, levels in PLAN:
            if models and model not in models:
                continue
            for difficulty, n in levels:
                _run(db, model, family, difficulty, n, SEED, MAX_TOKENS, Engine())


def reproduce_legacy(db: Path, engine: Engine, models: Sequence[str]) -> None:
    """Regenerate the legacy collection, one database per id suffix."""
    for suffix, families, model, difficulty, n, cap in LEGACY:
        if models and model not in models:
            continue
        for family in families:
            target = db.with_name(f"{db.stem}{suffix.strip('#')}{db.suffix}")
            _run(target, model, family, difficulty, n, 0, cap, engine)


def _load(out: Path) -> dict[str, dict[str, object]]:
    if not out.exists():
        return {}
    lines = out.read_text(encoding="utf-8").splitlines()
    return {r["id"]: r for r in map(json.loads, filter(str.strip, lines))}


def _rows(db: Path) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT s.task, s.task_version, s.model_id, s.seed, s.instance_index, s.difficulty, "
        "s.output, s.extracted, s.reference, s.finish_reason, s.completion_tokens, r.sampling "
        "FROM samples s JOIN runs r ON r.id = s.run_id WHERE s.error IS NULL "
        "ORDER BY s.task, s.model_id, s.difficulty, s.instance_index"
    ).fetchall()
    con.close()
    return rows


def export(db: Path, out: Path, *, suffix: str = "", add_new: bool = True) -> tuple[int, int]:
    """Merge the stored samples of `db` into `out`: new outputs are added (when `add_new`), and an
    old record whose output came back identical gets the finish reason it lacked.
    Returns (added, annotated)."""
    from gapbench.tasks.registry import get_task

    records = _load(out)
    added = annotated = 0
    for row in _rows(db):
        task_name, version, model, seed, index, difficulty, output = row[:7]
        extracted, reference, finish, tokens, sampling = row[7:]
        record_id = f"{task_name}/{model}/{difficulty}/{seed}/{index}{suffix}"
        cap = json.loads(str(sampling))["max_tokens"]
        old = records.get(record_id)
        if old is not None:
            if old["output"] == output and old.get("finish_reason", "unknown") == "unknown":
                old.update(finish_reason=finish, completion_tokens=tokens, max_tokens=cap)
                old.pop("completion_tokens_source", None)
                annotated += 1
            continue
        if not add_new:
            continue
        task = get_task(str(task_name))
        instance = task.instance(int(str(seed)), int(str(index)), difficulty)  # type: ignore[arg-type]
        if instance.answer != reference or task.version != version:
            raise SystemExit(f"{task_name} {seed}/{index} no longer regenerates as stored")
        records[record_id] = {
            "id": record_id,
            **dict(task=task_name, task_version=version, model=model, seed=seed, index=index),
            **dict(difficulty=difficulty, max_tokens=cap),
            **dict(finish_reason=finish, completion_tokens=tokens),
            "question": instance.question,
            "reference": reference,
            "extracted_at_collection": extracted,
            "output": output,
            "label": None,
            "note": "",
            "needs_label": True,
        }
        added += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for record in records.values():
            record.setdefault("finish_reason", "unknown")
            record.setdefault("completion_tokens", None)
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return added, annotated


def retokenize_legacy(out: Path) -> int:
    """Give every record whose finish reason is unknown its measured completion token count."""
    from llama_cpp import Llama

    from gapbench.backends.references import resolve_model
    from gapbench.catalog.pull import resolve_file

    records = _load(out)
    tokenizers: dict[str, Llama] = {}
    count = 0
    for record in records.values():
        if record.get("finish_reason", "unknown") != "unknown":
            continue
        model = str(record["model"])
        if model not in tokenizers:
            path = resolve_file(resolve_model(model))
            tokenizers[model] = Llama(str(path), vocab_only=True, verbose=False)
        text = str(record["output"]).encode("utf-8")
        record_id = str(record["id"])
        suffix = record_id[record_id.index("#") :] if "#" in record_id else ""
        record.update(
            completion_tokens=len(tokenizers[model].tokenize(text, add_bos=False, special=True)),
            max_tokens=LEGACY_CAPS[suffix],
            completion_tokens_source="retokenized",
        )
        count += 1
    with out.open("w", encoding="utf-8") as f:
        for record in records.values():
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return count


def main() -> None:
    """Collect (unless --export-only) and export."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=Path("/tmp/audit.db"))
    parser.add_argument(
        "--out", type=Path, default=Path("tests/scoring/data/extraction_audit.jsonl")
    )
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--retokenize-legacy", action="store_true")
    parser.add_argument("--reproduce-legacy", type=Path, metavar="DB", default=None)
    # The legacy collection decoded 4 sequences at once on 1 thread; batch 1 (the CLI's default)
    # and the legacy settings each bring back some of its outputs.
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--model", action="append", default=[], help="Only this model (repeat); default all."
    )
    parser.add_argument(
        "--family", action="append", default=[], help="Only this family (repeat), in this order."
    )
    args = parser.parse_args()
    if args.retokenize_legacy:
        print(f"{retokenize_legacy(args.out)} legacy records retokenized")
        return
    if args.reproduce_legacy is not None:
        legacy: Path = args.reproduce_legacy
        if not args.export_only:
            reproduce_legacy(legacy, Engine(args.batch_size, args.threads), args.model)
        for suffix in dict.fromkeys(s for s, *_ in LEGACY):
            db = legacy.with_name(f"{legacy.stem}{suffix.strip('#')}{legacy.suffix}")
            if db.exists():
                _, annotated = export(db, args.out, suffix=suffix, add_new=False)
                print(f"{db}: {annotated} legacy records reproduced byte for byte")
        return
    if not args.export_only:
        collect(args.db, args.model, args.family)
    added, annotated = export(args.db, args.out)
    print(f"{added} new records, {annotated} annotated -> {args.out}")


if __name__ == "__main__":
    main()
