"""Shared fixtures: a CLI runner, a fresh database path, and the real SmolLM2 model file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.helpers import CliInvoke

# As gapbench's llama.cpp backend does: tests that load llama_cpp directly must not spin-wait
# (see backends/llamacpp.py). Set before any test imports llama_cpp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from gapbench.cli.main import main


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


@pytest.fixture
def cli() -> CliInvoke:
    """Invoke the CLI in process; returns click's Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def smollm2_file() -> Path:
    """The real SmolLM2-135M-Instruct GGUF, pulled through the catalog like a user would."""
    from gapbench.backends.references import resolve_model
    from gapbench.catalog.pull import pull

    return pull(resolve_model("smollm2-135m-instruct"))
