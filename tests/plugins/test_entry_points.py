"""Third-party backends and tasks through entry points: a plugin distribution (a dist-info with
entry points on a temporary path, as pip would install it) runs its task and its backend through
the CLI; a broken plugin is reported in one line and does not break the others."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gapbench-reverse"


def _dist_info(site: Path, name: str, version: str, groups: dict[str, dict[str, str]]) -> None:
    """What pip leaves for an installed distribution: METADATA and entry_points.txt."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, points in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder holding the example plugin (from examples/gapbench-reverse, as built) and a
    broken one: a task whose module is missing and a backend that is not a BackendEntry."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(EXAMPLE / "src" / "gapbench_reverse", site / "gapbench_reverse")
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    _dist_info(site, project["name"], project["version"], project["entry-points"])
    _dist_info(
        site,
        "gapbench-broken",
        "9.9",
        {
            "gapbench.tasks": {
                "gone": "gapbench_missing_module:Task",
                "notatask": "json:JSONDecoder",
            },
            "gapbench.backends": {"odd": "json:dumps"},
        },
    )
    return site


def _gapbench(site: Path, *args: str, plugins: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    env.pop("GAPBENCH_NO_PLUGINS", None)
    if not plugins:
        env["GAPBENCH_NO_PLUGINS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "gapbench", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_the_plugin_task_and_backend_run_through_the_cli(site: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "plugin.db")
    run = _gapbench(
        site, "run", "--model", "oracle:perfect", "--model", "scripted:half?accuracy=0.5",
        "--task", "reverse_words", "--n", "8", "--difficulty", "easy", "--db", db,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    board = _gapbench(site, "leaderboard", "--task", "reverse_words", "--json", "--db", db)
    assert board.returncode == 0, board.stderr
    rows = {(r["model"], r["task"]): r for r in json.loads(board.stdout)}
    oracle = rows[("oracle:perfect", "reverse_words")]
    assert (oracle["n"], oracle["correct"]) == (8, 8)  # the task's own scorer accepted every one
    assert rows[("scripted:half?accuracy=0.5", "reverse_words")]["n"] == 8


def test_lists_say_where_each_task_and_backend_came_from(site: Path) -> None:
    tasks = _gapbench(site, "tasks", "list", "--json")
    assert tasks.returncode == 0, tasks.stderr
    sources = {t["name"]: t["source"] for t in json.loads(tasks.stdout)}
    assert sources["reverse_words"] == "gapbench-reverse 0.1.0"
    assert sources["arith"] == "gapbench"
    table = _gapbench(site, "tasks", "list", "--wide")
    assert "gapbench-reverse 0.1.0" in table.stdout
    models = _gapbench(site, "models", "list")
    assert models.returncode == 0, models.stderr
    flat = " ".join(models.stdout.split())
    assert "oracle (oracle:NAME, from gapbench-reverse 0.1.0)" in flat


def test_a_broken_plugin_is_one_line_each_and_breaks_nothing_else(site: Path) -> None:
    result = _gapbench(site, "tasks", "list", "--json")
    assert result.returncode == 0
    lines = [line for line in result.stderr.splitlines() if "gapbench-broken" in line]
    assert len(lines) == 2, result.stderr  # tasks list loads tasks only: one line per entry
    gone, odd_task = sorted(lines, key=lambda line: "notatask" in line)
    assert "gone = gapbench_missing_module:Task" in gone and "ModuleNotFoundError" in gone
    assert "notatask) is not a gapbench Task" in odd_task and "TaskBase" in odd_task
    assert "Traceback" not in result.stderr
    models = _gapbench(site, "models", "list")
    odd = [line for line in models.stderr.splitlines() if "gapbench.backends: odd" in line]
    assert len(odd) == 1 and "not a gapbench BackendEntry" in odd[0], models.stderr


def test_plugins_can_be_switched_off(site: Path) -> None:
    result = _gapbench(site, "tasks", "list", "--json", plugins=False)
    assert result.returncode == 0 and result.stderr == ""
    assert "reverse_words" not in {t["name"] for t in json.loads(result.stdout)}
    unknown = _gapbench(site, "run", "--model", "oracle:perfect", "--task", "arith", plugins=False)
    assert unknown.returncode == 2 and "Unknown model 'oracle:perfect'" in unknown.stderr
