"""Collect real model outputs for the answer-extraction audit set.

The set lives in tests/scoring/data/extraction_audit.jsonl. Runs
`gapbench run` for each (family, model) with small n, then exports every sample from the SQLite
store as one JSONL record per output: the output, the stored extractor value, and the
instance's question and reference (regenerated from the task, so the test can build the real
instance). Records that are already labelled in the audit file keep their label and note, so a
re-collection only adds work for new outputs; new records get `label` = None and
`needs_label` = true and must be read and labelled by a person before the test is meaningful.

    GAPBENCH_CACHE=/tmp/gbcache .venv/bin/python benchmarks/collect_audit_outputs.py \\
        --db /tmp/audit.db --out tests/scoring/data/extraction_audit.jsonl

--export-only skips generation and only re-exports the database.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

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
    "ja_era",
    "boolean",
    "lists",
)
# Instances per family for each model: the small models are fast, qwen takes ~5-10 s an output
# on one thread, so it gets fewer to keep the whole collection near 15 CPU-minutes.
MODELS_AND_N = (
    ("smollm2-135m-instruct", 9),
    ("gemma-3-270m", 6),
    ("qwen2.5-coder-0.5b-instruct", 2),
)


def collect(
    db: Path, difficulty: str, max_tokens: int, threads: int, models: list[str], families: list[str]
) -> None:
    """Generate the outputs with the CLI (resumable: the store skips what it already holds)."""
    gapbench = Path(sys.executable).with_name("gapbench")
    for family in families or FAMILIES:
        for model, n in MODELS_AND_N:
            if models and model not in models:
                continue
            cmd = [
                str(gapbench),
                "run",
                "--model",
                model,
                "--task",
                family,
                "--n",
                str(n),
                "--difficulty",
                difficulty,
                "--max-tokens",
                str(max_tokens),
                "--batch-size",
                "4",
                "--threads",
                str(threads),
                "--db",
                str(db),
            ]
            print(" ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def export(db: Path, out: Path) -> int:
    """Write every stored sample as an audit record, keeping labels already in `out`."""
    from gapbench.tasks.registry import get_task

    old: dict[str, dict[str, object]] = {}
    if out.exists():
        for line in out.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                old[record["id"]] = record
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT task, task_version, model_id, seed, instance_index, difficulty, output, "
        "extracted, reference FROM samples WHERE error IS NULL "
        "ORDER BY task, model_id, instance_index"
    ).fetchall()
    con.close()
    records = []
    for task_name, version, model, seed, index, difficulty, output, extracted, reference in rows:
        task = get_task(task_name)
        instance = task.instance(seed, index, difficulty)
        if instance.answer != reference or task.version != version:
            raise SystemExit(f"{task_name} {seed}/{index} no longer regenerates as stored")
        record_id = f"{task_name}/{model}/{difficulty}/{seed}/{index}"
        previous = old.get(record_id, {})
        records.append(
            {
                "id": record_id,
                "task": task_name,
                "task_version": version,
                "model": model,
                "seed": seed,
                "index": index,
                "difficulty": difficulty,
                "question": instance.question,
                "reference": reference,
                "extracted_at_collection": extracted,
                "output": output,
                "label": previous.get("label"),
                "note": previous.get("note", ""),
                **({} if "label" in previous else {"needs_label": True}),
            }
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)


def main() -> None:
    """Collect (unless --export-only) and export."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=Path("/tmp/audit.db"))
    parser.add_argument(
        "--out", type=Path, default=Path("tests/scoring/data/extraction_audit.jsonl")
    )
    parser.add_argument("--difficulty", default="easy")
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument(
        "--model", action="append", default=[], help="Only this model (repeat); default all."
    )
    parser.add_argument(
        "--family", action="append", default=[], help="Only this family (repeat), in this order."
    )
    args = parser.parse_args()
    if not args.export_only:
        collect(args.db, args.difficulty, args.max_tokens, args.threads, args.model, args.family)
    count = export(args.db, args.out)
    print(f"{count} records -> {args.out}")


if __name__ == "__main__":
    main()
