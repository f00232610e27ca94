"""Client overhead of the OpenAI-compatible HTTP backend against a fast local fake server.

The fake server (tests/backends/fault_server.py) runs in its own process and answers every request
after a fixed delay, like a model that takes that long; it spends no CPU while waiting, so at
concurrency C its capacity is about C / delay requests per second. We measure:

- the capacity the server reaches with a minimal raw-socket client (no HTTP library, no JSON
  parsing of the answer beyond framing): the ceiling any client can hit on this machine;
- the backend's throughput (stream and non-stream), as a share of that capacity;
- per-request overhead: the backend's mean latency minus the raw client's, and the client's CPU
  time per request (what the backend costs the machine).

    .venv/bin/python benchmarks/bench_http_client.py --requests 2000 --concurrency 32 \\
        --delay 0.05 --repeats 7

Each repeat measures the raw client and then both backend modes, alternating their order; the
table gives medians over the repeats (the machine's noise moves single runs by a few percent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from gapbench.backends.references import resolve_model  # noqa: E402
from gapbench.backends.registry import BackendOptions, load_backend  # noqa: E402
from gapbench.backends.types import ChatMessage, GenerationRequest, SamplingParams  # noqa: E402


def start_server(delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/backends/fault_server.py"), "--delay", str(delay)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit("fake server did not start")
    return proc, url


async def raw_client(url: str, n: int, concurrency: int) -> tuple[float, list[float]]:
    """The floor: keep-alive sockets, a prebuilt request, read by Content-Length."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = json.dumps(
        {"model": "fake", "messages": [{"role": "user", "content": "q"}], "max_tokens": 64}
    ).encode()
    request = (
        f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    remaining = iter(range(n))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for _ in remaining:
            start = time.perf_counter()
            writer.write(request)
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            json.loads(await reader.readexactly(length))
            latencies.append(time.perf_counter() - start)
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


def backend_run(
    url: str, n: int, concurrency: int, stream: bool
) -> tuple[float, float, list[float]]:
    """(wall seconds, client CPU seconds, latencies) for n requests through the backend."""
    spec = resolve_model(f"openai:{url}#fake?stream={str(stream).lower()}")
    backend = load_backend(spec, None, BackendOptions(concurrency=concurrency))
    requests = [
        GenerationRequest(
            request_id=str(i),
            sampling=SamplingParams(max_tokens=64),
            messages=(ChatMessage("user", "q"),),
        )
        for i in range(n)
    ]
    try:
        list(backend.generate(requests[:concurrency]))  # warm up connections
        cpu, start = time.process_time(), time.perf_counter()
        generations = list(backend.generate(requests))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        backend.close()
    failed = [g for g in generations if g.error]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed, e.g. {failed[0].error}")
    return wall, cpu, [g.timing.latency_s for g in generations]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.05, help="server seconds per answer")
    parser.add_argument("--repeats", type=int, default=5, help="medians are over these")
    args = parser.parse_args()
    n, c = args.requests, args.concurrency
    proc, url = start_server(args.delay)
    figures: dict[str, list[tuple[float, float, float]]] = {}
    try:
        asyncio.run(raw_client(url, c * 2, c))  # warm up
        print(f"server delay {args.delay * 1000:.0f} ms, concurrency {c}, {n} requests")
        print(f"ideal capacity (concurrency / delay): {c / args.delay:.1f} req/s")
        for repeat in range(args.repeats):
            raw_cpu = time.process_time()
            raw_wall, raw_latencies = asyncio.run(raw_client(url, n, c))
            raw_cpu = time.process_time() - raw_cpu
            raw_mean = statistics.mean(raw_latencies)
            capacity = n / raw_wall
            figures.setdefault("raw-socket client", []).append(
                (n / raw_wall, 0.0, raw_cpu / n * 1000)
            )
            # Alternate which mode goes first, so drift on a shared machine hits both alike.
            for stream in (False, True) if repeat % 2 == 0 else (True, False):
                wall, cpu, latencies = backend_run(url, n, c, stream)
                mean = statistics.mean(latencies)
                figures.setdefault(
                    f"backend, {'streamed' if stream else 'not streamed'}", []
                ).append((100 * (n / wall) / capacity, (mean - raw_mean) * 1000, cpu / n * 1000))
    finally:
        proc.terminate()
        proc.wait(10)
    print(
        "\n| client | capacity reached | latency added | client CPU per request | runs (capacity) |"
    )
    print("|---|---:|---:|---:|---|")
    for name, rows in figures.items():
        first = [r[0] for r in rows]
        reached = (
            f"{statistics.median(first):.1f} req/s"
            if name.startswith("raw")
            else (f"{statistics.median(first):.1f}%")
        )
        added = (
            "-" if name.startswith("raw") else f"{statistics.median(r[1] for r in rows):+.2f} ms"
        )
        runs = ", ".join(f"{v:.1f}" for v in first)
        cpu = statistics.median(r[2] for r in rows)
        print(f"| {name} | {reached} | {added} | {cpu:.2f} ms | {runs} |")


if __name__ == "__main__":
    main()
