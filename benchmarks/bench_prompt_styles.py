"""Accuracy of the offline instruct models under each prompt style, and across phrasings.

    GAPBENCH_CACHE=<pulled models> .venv/bin/python benchmarks/bench_prompt_styles.py \
        [--n 20] [--tasks arith,percent,logic,boolean,zh_arith] [--variants 3] [--db PATH]

Runs `gapbench run` through the CLI, as a user would, once with `--prompt-style answer-line` (the
families' own 'Answer: X' instruction, gapbench's prompt before styles existed) and once with
`--prompt-style reasoning --prompt-variants K` (the makers' reason-step-by-step + \\boxed{} prompt
and K-1 rephrasings of it), on the same instances, then prints per model and task: accuracy and
no-answer share under each style (the reasoning style's first phrasing), and the spread of accuracy
across the reasoning phrasings. Gemma-3-270M is left out: it is a base model, asked with few-shot
completions whatever the style. Output is Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GAPBENCH = str(Path(sys.executable).with_name("gapbench"))
MODELS = ("qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct")


def _run(db: str, task: str, n: int, *style: str) -> None:
    command = [GAPBENCH, "run", "--db", db, "--task", task, "--n", str(n), "--difficulty", "easy",
               "--batch-size", "8", *style]  # fmt: skip
    for model in MODELS:
        command += ["--model", model]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode not in (0, 1):  # 1: some samples failed, still worth reporting
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}")
    print(f"$ {' '.join(command)}  # {time.monotonic() - started:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--tasks", default="arith,percent,logic,boolean,zh_arith")
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    db = args.db or str(Path(tempfile.mkdtemp(prefix="gapbench-styles-")) / "styles.db")
    for task in tasks:
        _run(db, task, args.n, "--prompt-style", "answer-line")
        _run(db, task, args.n, "--prompt-style", "reasoning",
             "--prompt-variants", str(args.variants))  # fmt: skip
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT model_id, task, prompt_style, correct, extraction_ok, completion_tokens, "
            "finish_reason FROM samples WHERE error IS NULL"
        ).fetchall()
    cells: dict[tuple[str, str, str], list[tuple[int, int, int, str]]] = collections.defaultdict(
        list
    )
    for model, task, style, correct, ok, tokens, finish in rows:
        cells[(model, task, style)].append((correct, ok, tokens, finish))

    def share(values: list[int]) -> str:
        return f"{100 * sum(values) / len(values):.1f}" if values else "-"

    print(f"Database: {db}\n")
    print("| model | task | n | answer-line acc% (noans%) | reasoning acc% (noans%, cut%) "
          f"| spread over {args.variants} phrasings (pts) |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|")
    for model in MODELS:
        for task in tasks:
            old = cells[(model, task, "chat")]
            new = cells[(model, task, "chat-reasoning")]
            variants = [
                cells[(model, task, "chat-reasoning" + (f"-v{v}" if v else ""))]
                for v in range(args.variants)
            ]
            accs = [sum(c for c, *_ in v) / len(v) for v in variants if v]
            spread = f"{100 * (max(accs) - min(accs)):.1f}" if len(accs) > 1 else "-"
            print(
                f"| {model} | {task} | {len(new)} | {share([c for c, *_ in old])} "
                f"({share([1 - ok for _, ok, *_ in old])}) | {share([c for c, *_ in new])} "
                f"({share([1 - ok for _, ok, *_ in new])}, "
                f"{share([f == 'length' for *_, f in new])}) | {spread} |"
            )
    print(json.dumps({"db": db}), file=sys.stderr)


if __name__ == "__main__":
    main()
