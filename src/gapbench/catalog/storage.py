"""Errors met while writing model files to disk, as sentences that say what to do.

Shared by the gapbench model cache (pull.py) and the Hugging Face cache (hub.py), each naming the
variable that moves it: a neutral module, so that neither has to import the other.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from gapbench.errors import GapbenchError, UsageError

CACHE_SETTING = "GAPBENCH_CACHE"


def storage_error(
    error: OSError, directory: Path, needed: int | None = None, *, setting: str = CACHE_SETTING
) -> GapbenchError:
    """Turn an OSError met while writing into `directory` into an error that says what to do;
    `setting` is the environment variable that moves the directory to another disk."""
    if error.errno == errno.ENOSPC:
        try:
            free = shutil.disk_usage(directory).free
        except OSError:
            free = 0
        if needed is not None:
            short_mb = max(1, -(-(needed - free) // 1_000_000))
            return GapbenchError(
                f"Not enough disk space in {directory}: free {short_mb} MB "
                f"or set {setting} to another disk."
            )
        return GapbenchError(
            f"Not enough disk space in {directory}: free some space "
            f"or set {setting} to another disk."
        )
    if isinstance(error, PermissionError | NotADirectoryError | FileExistsError) or error.errno in (
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
    ):
        return unwritable(directory, error, setting=setting)
    return GapbenchError(
        f"Could not write the model file in {directory} ({error.strerror or error}): "
        f"check the disk, or set {setting} to another directory."
    )


def unwritable(directory: Path, error: OSError, *, setting: str = CACHE_SETTING) -> UsageError:
    return UsageError(
        f"Cannot write to the model cache {directory} ({error.strerror or error}): "
        f"set {setting} to a writable directory."
    )
