"""The real path: SmolLM2-135M-Instruct through llama.cpp, driven by the CLI in a subprocess."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.helpers import run_gapbench

MODEL = "smollm2-135m-instruct"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

pytestmark = pytest.mark.slow


def test_real_model_run_leaderboard_and_provenance(smollm2_file: Path, db: Path) -> None:
    args = [
        "run",
        "--model",
        MODEL,
        "--suite",
        "quick",
        "--n",
        "4",
        "--max-tokens",
        "96",
        "--db",
        str(db),
    ]
    result = run_gapbench(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    with sqlite3.connect(db) as conn:
        samples = conn.execute(
            "SELECT task, output, prompt_tokens, completion_tokens, finish_reason, ttft_s, "
            "latency_s, error FROM samples"
        ).fetchall()
        run = conn.execute(
            "SELECT model_sha256, backend, engine_version, threads, batch_size, device, sampling "
            "FROM runs"
        ).fetchone()
    assert len(samples) == 12
    for _task, output, prompt_tokens, completion_tokens, finish, ttft, latency, error in samples:
        assert error is None
        assert output.strip()
        assert prompt_tokens > 10 and 0 < completion_tokens <= 96
        assert finish in ("stop", "length")
        assert 0 < ttft <= latency
    sha, backend, engine, threads, batch_size, device, sampling = run
    assert sha == SHA256
    assert backend == "llamacpp" and engine.startswith("llama-cpp-python")
    assert threads >= 1 and batch_size >= 1 and device
    assert json.loads(sampling)["temperature"] == 0.0

    board = run_gapbench("leaderboard", "--json", "--db", str(db))
    assert board.returncode == 0, board.stderr
    rows = json.loads(board.stdout)
    overall = next(r for r in rows if r["task"] == "overall")
    assert overall["model"] == MODEL and overall["n"] == 12
    assert overall["tokens_per_s"] > 1

    # Greedy decoding is reproducible: a second database gets the same outputs.
    db2 = db.with_name("again.db")
    again = run_gapbench(*args[:-1], str(db2))
    assert again.returncode == 0, again.stderr
    query = "SELECT task, instance_index, output FROM samples ORDER BY 1, 2"
    with sqlite3.connect(db) as a, sqlite3.connect(db2) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
