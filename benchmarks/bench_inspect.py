"""Inspect AI against `gapbench run` on the same items and model, interleaved: wall time, accuracy.

    GAPBENCH_CACHE=<pulled models> .venv/bin/python benchmarks/bench_inspect.py \\
        --model qwen2.5-coder-0.5b-instruct --tasks arith,logic --n 20 --repeats 2

What is compared, per repeat and in rotating order:
- `inspect eval` (inspect-ai from PyPI, in its own venv, created with pip when missing) on a JSONL
  dataset of gapbench's own planned chat prompts, against the same GGUF served by llama-cpp-
  python's OpenAI-compatible server (`python -m llama_cpp.server`, started once before timing and
  not counted: Inspect's side is given a warm server). Inspect is sent greedy settings and the
  extra body fields that switch off the server's default repeat penalty, top-k and min-p, so both
  sides decode the same greedy tokens (backends/openai_servers.py says why), one request at a
  time (the server decodes one at a time).
- `gapbench run` with its defaults (`--batch-size auto`) and with `--batch-size 1`, each into a
  fresh database, model load included.

Every output is scored by gapbench's scorer (Inspect's own `match()` score is printed beside it),
so "same accuracy" means the same outputs read the same way. Wall time is the whole command,
process start to exit. The load average is printed before and after every timing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

INSPECT_TASK = """
from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset
from inspect_ai.scorer import match
from inspect_ai.solver import generate


@task
def gapbench_items():
    return Task(dataset=json_dataset({items!r}), solver=generate(), scorer=match(location="end"))
"""

GREEDY_BODY = {"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0}


def inspect_venv(path: Path) -> Path:
    """The `inspect` executable of the venv at `path`, made with inspect-ai and openai if absent."""
    exe = path / "bin" / "inspect"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        pip = [str(path / "bin" / "pip"), "install", "-q", "inspect-ai", "openai"]
        subprocess.run(pip, check=True)
    return exe


def planned(args: argparse.Namespace) -> list[Any]:
    """gapbench's planned samples for the chosen tasks, as `gapbench run` would ask them."""
    from gapbench.backends.references import resolve_model
    from gapbench.runner import RunConfig, plan_model, planned_samples
    from gapbench.store.repository import Store
    from gapbench.tasks.suites import resolve_tasks

    spec = resolve_model(args.model)
    config = RunConfig(
        models=[spec],
        tasks=resolve_tasks(args.tasks, None),
        n=args.n,
        difficulty=args.difficulty,
        max_tokens=args.max_tokens,
        prompt_style=args.prompt_style,
    )
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "plan.db") as store:
        return list(planned_samples(plan_model(spec, config, store)))


def write_items(samples: list[Any], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for p in samples:
            if p.request.messages is None:
                raise SystemExit("only chat (instruct) models: Inspect is sent chat messages")
            record = {
                "id": f"{p.key.task}/{p.key.index}",
                "input": [{"role": m.role, "content": m.content} for m in p.request.messages],
                "target": str(p.instance.answer),
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model_path: Path, port: int, threads: int, ctx: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        "local",
        "--n_ctx",
        str(ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("llama_cpp.server exited before answering") from None
            time.sleep(0.5)
    server.kill()
    raise SystemExit("llama_cpp.server did not answer within 120 s")


def run_inspect(
    exe: Path, task_file: Path, port: int, args: argparse.Namespace, log_dir: Path
) -> float:
    env = {
        **os.environ,
        "LLAMACPP_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "LLAMACPP_API_KEY": "none",
        "INSPECT_LOG_DIR": str(log_dir),
    }
    command = [
        str(exe),
        "eval",
        task_file.name,  # Inspect refuses absolute task paths: it runs in the file's folder
        "--model",
        "openai-api/llamacpp/local",
        "--temperature",
        "0",
        "--seed",
        "0",
        "--max-tokens",
        str(args.max_tokens),
        "--max-connections",
        "1",
        "--extra-body",
        json.dumps(GREEDY_BODY),
        "--log-format",
        "json",
        "--display",
        "none",
        "--no-log-images",
    ]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=task_file.parent)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"inspect eval failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds


def inspect_outputs(log_dir: Path) -> dict[str, tuple[str, str, int, float | None]]:
    """id -> (completion, stop reason, output tokens, Inspect's own score) from its JSON log."""
    [log] = sorted(log_dir.glob("*.json"))
    data = json.loads(log.read_text(encoding="utf-8"))
    outputs = {}
    for sample in data.get("samples", []):
        output = sample.get("output") or {}
        choice = (output.get("choices") or [{}])[0]
        usage = output.get("usage") or {}
        score = next(iter((sample.get("scores") or {}).values()), {}).get("value")
        outputs[str(sample["id"])] = (
            output.get("completion", ""),
            choice.get("stop_reason", ""),
            int(usage.get("output_tokens") or 0),
            1.0 if score == "C" else 0.0 if score is not None else None,
        )
    return outputs


def score_inspect(
    samples: list[Any], outputs: dict[str, tuple[str, str, int, float | None]]
) -> tuple[dict[str, str], float, float]:
    """Inspect's outputs scored by gapbench's scorer: texts, gapbench accuracy, Inspect's own."""
    from gapbench.backends.types import Generation, Timing
    from gapbench.runner import score_generation

    texts, correct, own = {}, [], []
    for p in samples:
        key = f"{p.key.task}/{p.key.index}"
        text, stop, tokens, score = outputs[key]
        finish = "length" if stop == "max_tokens" else "stop"
        generation = Generation(key, text, 0, tokens, finish, Timing(0.0, 0.0, None))
        correct.append(score_generation(p, generation, 0).correct)
        own.append(score or 0.0)
        texts[key] = text
    return texts, sum(correct) / len(correct), sum(own) / len(own)


def run_gapbench(args: argparse.Namespace, batch_size: str, db: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "gapbench",
        "run",
        "--model",
        args.model,
        "--task",
        args.tasks,
        "--n",
        str(args.n),
        "--difficulty",
        args.difficulty,
        "--max-tokens",
        str(args.max_tokens),
        "--prompt-style",
        args.prompt_style,
        "--threads",
        str(args.threads),
        "--db",
        str(db),
    ]
    if batch_size != "default":
        command += ["--batch-size", batch_size]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def gapbench_outputs(db: Path) -> tuple[dict[str, str], float, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT task, instance_index, output, correct FROM samples").fetchall()
        [(batch,)] = conn.execute("SELECT DISTINCT batch_size FROM runs").fetchall()
    texts = {f"{task}/{index}": output for task, index, output, _ in rows}
    return texts, sum(r[3] for r in rows) / len(rows), int(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--tasks", default="arith,logic")
    parser.add_argument("--n", type=int, default=20, help="instances per task")
    parser.add_argument("--difficulty", default="easy")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--prompt-style", default="answer-line")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--configs", default="inspect,default,1", help="what to time: inspect, default, N"
    )
    parser.add_argument(
        "--once", default="", help="configs timed in the first repeat only (e.g. 1: for outputs)"
    )
    parser.add_argument("--inspect-venv", type=Path, default=Path("/tmp/inspect-venv"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # gapbench's default, for both sides
    from gapbench.backends.references import resolve_model
    from gapbench.catalog.pull import pull

    exe = inspect_venv(args.inspect_venv)
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout
    samples = planned(args)
    configs = args.configs.split(",")
    walls: dict[str, list[float]] = {c: [] for c in configs}
    texts: dict[str, dict[str, str]] = {}
    accuracy: dict[str, float] = {}
    extra: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        items = tmp / "items.jsonl"
        write_items(samples, items)
        task_file = tmp / "gapbench_items.py"
        task_file.write_text(INSPECT_TASK.format(items=str(items)), encoding="utf-8")
        port = free_port()
        server = start_server(pull(resolve_model(args.model)), port, args.threads, 2048)
        print(
            f"model {args.model}  items {len(samples)}  tasks {args.tasks}  {args.difficulty}  "
            f"style {args.prompt_style}  max_tokens {args.max_tokens}  threads {args.threads}  "
            f"inspect {version.strip()}",
            flush=True,
        )
        try:
            for repeat in range(args.repeats):
                order = configs[repeat % len(configs) :] + configs[: repeat % len(configs)]
                order = [c for c in order if repeat == 0 or c not in args.once.split(",")]
                for config in order:
                    before = os.getloadavg()[0]
                    run_dir = tmp / f"{config}-{repeat}"
                    run_dir.mkdir()
                    if config == "inspect":
                        seconds = run_inspect(exe, task_file, port, args, run_dir)
                        out, acc, own = score_inspect(samples, inspect_outputs(run_dir))
                        extra[config] = f"Inspect's own match(): {own:.1%}"
                    else:
                        seconds = run_gapbench(args, config, run_dir / "results.db")
                        out, acc, batch = gapbench_outputs(run_dir / "results.db")
                        extra[config] = f"stored batch size {batch}"
                    walls[config].append(seconds)
                    texts.setdefault(config, out)
                    accuracy[config] = acc
                    print(
                        f"repeat {repeat + 1} {config}: {seconds:.1f} s, accuracy {acc:.1%} "
                        f"({extra[config]}), load {before:.2f} -> {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
    # Outputs compared with gapbench's --batch-size 1 when it ran, else with Inspect's.
    shown = "1" if texts.get("1") else "inspect"
    reference = texts.get(shown) or {}
    print(
        "\n| harness | median wall s | runs | accuracy (gapbench scorer) "
        f"| same output as {'batch size 1' if shown == '1' else 'Inspect'} |"
    )
    print("|---|---:|---|---:|---:|")
    for config in configs:
        same = sum(texts[config].get(k) == v for k, v in reference.items())
        print(
            f"| {config} | {statistics.median(walls[config]):.1f} | "
            f"{', '.join(f'{w:.1f}' for w in walls[config])} | {accuracy[config]:.1%} | "
            f"{same}/{len(reference)} |"
        )
    if "inspect" in walls and "default" in walls:
        ratio = statistics.median(walls["inspect"]) / statistics.median(walls["default"])
        print(f"\nInspect / gapbench default: {ratio:.2f}x")


if __name__ == "__main__":
    main()
