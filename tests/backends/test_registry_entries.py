"""The backend registry's entries say what their backends really need, and are the only place
outside backends/ that knows backends apart."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest

from gapbench.backends.registry import BUILTIN_BACKENDS, BackendEntry, load_target

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "gapbench"


def _base_dependencies() -> set[str]:
    """Import names of gapbench's own dependencies (installed with any extra)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower().replace("-", "_") for d in deps}
    return names | {"typing_extensions"}


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(third-party top-level packages, gapbench.backends modules) `module`'s source imports,
    anywhere in it (lazy imports in functions included; TYPE_CHECKING ones left out)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    tree = ast.parse(Path(spec.origin).read_text(), spec.origin)
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    third: set[str] = set()
    local: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if name.startswith("gapbench.backends."):
                local.add(name)
            elif top != "gapbench" and top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return third, local


def _needs(entry: BackendEntry) -> set[str]:
    """Third-party packages imported by the entry's modules and the backends modules they reach
    (modules of other layers are checked by their own extras)."""
    todo = [entry.target.partition(":")[0]]
    if entry.preflight and entry.preflight.startswith("gapbench.backends."):
        todo.append(entry.preflight.partition(":")[0])
    seen: set[str] = set()
    needs: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        third, local = _imports(module)
        needs |= third
        todo += sorted(local - seen)
    return needs - _base_dependencies()


@pytest.mark.parametrize("entry", BUILTIN_BACKENDS, ids=lambda e: e.name)
def test_requires_is_what_the_backend_imports(entry: BackendEntry) -> None:
    assert _needs(entry) == set(entry.requires), entry.name


@pytest.mark.parametrize("entry", BUILTIN_BACKENDS, ids=lambda e: e.name)
def test_every_named_function_exists(entry: BackendEntry) -> None:
    for target in (entry.target, entry.resolver, entry.preflight):
        if target is not None:
            assert callable(load_target(target)), target


@pytest.mark.parametrize("entry", BUILTIN_BACKENDS, ids=lambda e: e.name)
def test_the_extra_installs_what_it_requires(entry: BackendEntry) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    if not entry.requires:
        assert entry.extra is None
        return
    assert entry.extra in extras, entry.name
    listed = " ".join(extras[entry.extra]).lower().replace("-", "_")
    for package in entry.requires:
        assert package.replace("llama_cpp", "llama_cpp_python") in listed, (entry.name, package)


def test_no_module_outside_backends_tests_a_backend_name() -> None:
    names = "|".join(e.name for e in BUILTIN_BACKENDS)
    test = re.compile(rf"""\.backend\s*(==|!=|\bin\b)|["']({names})["']\s*(==|!=|\bin\b)""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if "backends" not in path.relative_to(SRC).parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if test.search(line)
    ]
    assert offenders == []
