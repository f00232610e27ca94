"""The import layers of docs/architecture.md hold, and the check that says so can fail.

`lint-imports` reads the contracts in pyproject.toml ([tool.importlinter]). The second test runs
the same contracts over a copy of the package with one arrow added that breaks them, so a
contract that stopped checking anything (a layer renamed away, an ignore that swallows too much)
fails here instead of passing quietly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gapbench

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(source_root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the project's contracts, importing gapbench from `source_root`."""
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the dev extra (make dev).")
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    result = _lint_imports(ROOT / "src", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("package", "source", "reported"),
    [
        # Backward, and inside a function: lazy imports count like top-level ones.
        (
            "store",
            "def load():\n    import gapbench.runner\n",
            "gapbench.store is not allowed to import gapbench.runner",
        ),
        # Backward, for the type checker only: TYPE_CHECKING imports count too.
        (
            "scoring",
            "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
            "    from gapbench.tasks.base import Instance\n",
            "gapbench.scoring is not allowed to import gapbench.tasks",
        ),
        # Sideways, between the independent halves of one layer.
        (
            "tasks",
            "from gapbench.perf import cost\n",
            "gapbench.tasks is not allowed to import gapbench.perf",
        ),
        # Statistics that reach for a task family.
        (
            "stats",
            "from gapbench.tasks import registry\n",
            "gapbench.stats is not allowed to import gapbench.tasks",
        ),
    ],
)
def test_an_arrow_against_the_layers_fails_the_check(
    tmp_path: Path, package: str, source: str, reported: str
) -> None:
    copy = tmp_path / "src" / "gapbench"
    shutil.copytree(
        Path(gapbench.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    (copy / package / "_against_the_layers.py").write_text(source, encoding="utf-8")
    result = _lint_imports(tmp_path / "src", tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert reported in result.stdout, result.stdout
    assert f"gapbench.{package}._against_the_layers" in result.stdout
