"""Sequential vs continuous-batched decoding on llama.cpp: aggregate output tokens/s.

    .venv/bin/python benchmarks/bench_batching.py \\
        --model /tmp/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \\
        --batch-sizes 1,4,8,16 --prompts 32 --max-tokens 48

Reports, on the same greedy prompts:
- prompt processing tok/s (one long prompt in one batch): the compute ceiling for decoding;
- sequential: a `create_chat_completion` loop (`create_completion` for base models), one request
  at a time, KV cache reset between requests like the backend does;
- batched: `BatchedDecoder` with n slots, and the share of outputs identical to the sequential ones.

Output tokens exclude the end-of-generation token on both sides, so the rates compare like for like.

OMP_WAIT_POLICY defaults to PASSIVE here (set before llama_cpp loads libgomp): llama.cpp's OpenMP
threads otherwise spin at every barrier, and on a machine whose cores are shared with other work
a descheduled peer turns each spin into a lost time slice (seen: 2 threads 30x slower than 1).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapbench.backends.llamacpp_batch import BatchedDecoder, DecodeJob

TASKS = [
    "reverses a linked list",
    "checks whether a string is a palindrome",
    "merges two sorted lists",
    "computes the n-th Fibonacci number iteratively",
    "counts word frequencies in a text",
    "flattens a nested list",
    "parses a CSV line with quoted fields",
    "finds the longest common prefix of a list of strings",
    "converts a Roman numeral to an integer",
    "validates an IPv4 address",
    "rotates a matrix by 90 degrees",
    "implements binary search",
    "removes duplicates while keeping order",
    "computes the greatest common divisor",
    "groups anagrams together",
    "checks balanced brackets",
]
STYLES = ["Write a Python function that {t}.", "Explain step by step how to write code that {t}."]


@dataclass(frozen=True)
class Row:
    mode: str
    slots: int
    output_tokens: int
    seconds: float
    agreement: float | None = None

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.seconds


def prompts(n: int) -> list[str]:
    """n distinct coding prompts (tasks x styles, cycled)."""
    pool = [s.format(t=t) for s in STYLES for t in TASKS]
    return [pool[i % len(pool)] + ("" if i < len(pool) else f" (variant {i})") for i in range(n)]


def chat_formatter(llm: Any) -> Any | None:
    """The GGUF's chat template as a callable, or None for a base model."""
    from llama_cpp import llama_chat_format

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None

    def token_text(token_id: int) -> str:
        return str(llm._model.token_get_text(token_id)) if token_id != -1 else ""

    return llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llm.token_eos()),
        bos_token=token_text(llm.token_bos()),
    )


def tokenize(llm: Any, formatter: Any | None, text: str) -> list[int]:
    if formatter is None:
        return list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))
    rendered = formatter(messages=[{"role": "user", "content": text}])
    return list(
        llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
    )


def prompt_processing_rate(llm: Any, tokens: list[int]) -> float:
    """Prompt tokens/s of one long prompt evaluated in one batch (best of two)."""
    best = 0.0
    for _ in range(2):
        llm.reset()
        start = time.perf_counter()
        llm.eval(tokens)
        best = max(best, len(tokens) / (time.perf_counter() - start))
    llm.reset()
    return best


def sequential(llm: Any, texts: list[str], chat: bool, max_tokens: int) -> tuple[Row, list[str]]:
    """One request at a time through llama-cpp-python's high-level API, greedy."""
    outputs: list[str] = []
    tokens = 0
    start = time.perf_counter()
    for text in texts:
        llm.reset()  # as the backend does: no prefix reuse between requests
        greedy: dict[str, Any] = {"temperature": 0.0, "max_tokens": max_tokens, "seed": 0}
        if chat:
            response = llm.create_chat_completion(
                messages=[{"role": "user", "content": text}], repeat_penalty=1.0, **greedy
            )
            outputs.append(response["choices"][0]["message"]["content"] or "")
        else:
            response = llm.create_completion(text, repeat_penalty=1.0, **greedy)
            outputs.append(response["choices"][0]["text"])
        tokens += response["usage"]["completion_tokens"]
    return Row("sequential", 1, tokens, time.perf_counter() - start), outputs


def batched(
    llm: Any, jobs: list[DecodeJob], slots: int, per_seq_ctx: int, reference: list[str]
) -> Row:
    """All jobs through the continuous-batching decoder with `slots` sequences in flight."""
    with BatchedDecoder(llm, n_slots=slots, per_seq_ctx=per_seq_ctx) as decoder:
        start = time.perf_counter()
        results = {r.job_id: r for r in decoder.run(jobs)}
        seconds = time.perf_counter() - start
    # No stop strings here, so 'stop' means an end-of-generation token, which is not output.
    tokens = sum(r.completion_tokens - (r.finish_reason == "stop") for r in results.values())
    same = sum(results[str(i)].text == ref for i, ref in enumerate(reference))
    return Row("batched", slots, tokens, seconds, same / len(reference))


def markdown(rows: list[Row], pp_rate: float) -> str:
    base = rows[0].tokens_per_s
    lines = [
        "| mode | slots | output tokens | wall s | output tok/s | vs sequential "
        "| greedy agreement |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        agree = "-" if r.agreement is None else f"{r.agreement:.0%}"
        lines.append(
            f"| {r.mode} | {r.slots} | {r.output_tokens} | {r.seconds:.1f} | "
            f"{r.tokens_per_s:.1f} | {r.tokens_per_s / base:.2f}x | {agree} |"
        )
    lines.append(f"| prompt processing (ceiling) | - | - | - | {pp_rate:.1f} | - | - |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--batch-sizes", default="1,2,4,8,16")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=1024, help="context per sequence")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import llama_cpp

    sizes = [int(s) for s in args.batch_sizes.split(",")]
    llm = llama_cpp.Llama(
        str(args.model),
        n_ctx=args.ctx,
        n_batch=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    formatter = chat_formatter(llm)
    texts = prompts(args.prompts)
    token_lists = [tokenize(llm, formatter, t) for t in texts]
    jobs = [
        DecodeJob(job_id=str(i), prompt_tokens=toks, max_tokens=args.max_tokens)
        for i, toks in enumerate(token_lists)
    ]
    long_prompt = [t for toks in token_lists for t in toks][:256]
    print(
        f"model: {args.model.name}  threads: {args.threads}  prompts: {args.prompts}  "
        f"max_tokens: {args.max_tokens}  OMP_WAIT_POLICY: {os.environ['OMP_WAIT_POLICY']}  "
        "mean prompt: "
        f"{sum(map(len, token_lists)) / len(token_lists):.0f} tokens"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    pp_rate = prompt_processing_rate(llm, long_prompt)
    seq_row, reference = sequential(llm, texts, formatter is not None, args.max_tokens)
    rows = [seq_row]
    print(f"sequential: {seq_row.tokens_per_s:.1f} tok/s", flush=True)
    for size in sizes:
        rows.append(batched(llm, jobs, size, args.ctx, reference))
        print(f"batched {size}: {rows[-1].tokens_per_s:.1f} tok/s", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print(markdown(rows, pp_rate))
    llm.close()


if __name__ == "__main__":
    main()
