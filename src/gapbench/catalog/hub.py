"""Model files from the Hugging Face Hub, through huggingface_hub into the standard HF cache.

The files land where transformers, vLLM and the `hf` command keep theirs ($HF_HUB_CACHE, else
$HF_HOME/hub, else ~/.cache/huggingface/hub), so a model is downloaded once for all of them, and
huggingface_hub's own settings apply: HF_ENDPOINT (mirrors; the tests' loopback hub), HF_TOKEN or
the token `hf auth login` saved, HF_HUB_OFFLINE. huggingface_hub reads them when it is imported,
which in gapbench is the first Hub call of the process.

This module turns huggingface_hub's exceptions into one sentence each that says what to do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from gapbench import __version__
from gapbench.catalog.hashing import sha256_file
from gapbench.catalog.storage import storage_error
from gapbench.catalog.types import HuggingFaceSource
from gapbench.errors import GapbenchError, ModelFileError, UsageError

LIBRARY_NAME = "gapbench"
"""With LIBRARY_VERSION, what huggingface_hub's calls name in their user agent."""
LIBRARY_VERSION = __version__

HUB_CACHE_SETTING = "HF_HOME"
"""The variable that moves the Hugging Face cache (HF_HUB_CACHE, more narrowly, also does)."""


class HubUnreachable(GapbenchError):
    """The Hub could not be asked: no connection, or it answered a server error (5xx, 429). What
    the Hugging Face cache holds stands in for it; an answer about the file itself does not."""


class HubOffline(GapbenchError):
    """HF_HUB_OFFLINE is set and what was asked for is not in the Hugging Face cache."""


def require_hub() -> None:
    """huggingface_hub comes with the llama and hf extras, not with the base install."""
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        raise UsageError(
            "Downloading from the Hugging Face Hub needs huggingface_hub: "
            "pip install 'gapbench[llama]' (or 'gapbench[hf]')."
        ) from None


def hub_endpoint() -> str:
    """The Hub address huggingface_hub uses: $HF_ENDPOINT (mirrors, tests) or huggingface.co."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_cache() -> Path:
    """The Hugging Face cache directory huggingface_hub downloads into."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def is_offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode()


def hub_url(source: HuggingFaceSource) -> str:
    """The resolve URL of a file on the Hub."""
    from huggingface_hub import hf_hub_url

    return hf_hub_url(source.repo, source.file, revision=source.revision)


def download(
    source: HuggingFaceSource, progress: Callable[[str], None] | None = None
) -> tuple[Path, str]:
    """The file in the Hugging Face cache (downloaded when it is not there yet) and its sha256,
    checked against the catalog's when that is known.

    The repository listing comes first: it fails at once when the Hub is unreachable (where a
    download would retry for half a minute), and it carries the LFS sha256 of the file, so a
    file the catalog does not name is refused before a byte of it is fetched.
    """
    require_hub()
    report = progress or (lambda _message: None)
    where = f"{source.repo}/{source.file}"
    if is_offline():
        path = _fetch(source, source.revision, where, report)
    else:
        try:
            commit, hub_sha256 = _listed(source, where)
        except HubUnreachable:
            cached = _cached_file(source)
            if cached is None:
                raise
            report(f"The Hub is unreachable: using {where} from the Hugging Face cache.")
            path = cached
        else:
            if source.sha256 is not None and hub_sha256 not in (None, source.sha256):
                raise ModelFileError(
                    f"The Hub's {where} (revision {source.revision}) is not the file the catalog "
                    f"names (sha256 {hub_sha256}, the catalog expects {source.sha256}): the "
                    "repository changed after the catalog entry was written; use the model's "
                    "other source, or a gapbench release with an updated catalog."
                )
            path = _fetch(source, commit, where, report)
    digest = sha256_file(path)
    if source.sha256 is not None and digest != source.sha256:
        if _evict_corrupt(path, source.sha256):
            raise ModelFileError(
                f"{where} failed its sha256 check (expected {source.sha256}, got {digest}): the "
                "download was corrupt and is removed from the Hugging Face cache; pull it again."
            )
        raise ModelFileError(
            f"{where} failed its sha256 check (expected {source.sha256}, got {digest}): the "
            "Hub's file is not the one the catalog names; use the model's other source."
        )
    return path, digest


def _listed(source: HuggingFaceSource, where: str) -> tuple[str, str | None]:
    """(commit, LFS sha256 or None) of the file in the repository listing at its revision."""
    from huggingface_hub import HfApi, constants

    try:
        info = HfApi(library_name=LIBRARY_NAME, library_version=LIBRARY_VERSION).model_info(
            source.repo,
            revision=source.revision,
            files_metadata=True,
            timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT,
        )
    except Exception as error:
        raise translate(error, where, source.repo, source.revision) from None
    for sibling in info.siblings or []:
        if sibling.rfilename == source.file and info.sha is not None:
            return info.sha, sibling.lfs.sha256 if sibling.lfs is not None else None
    raise GapbenchError(
        f"{where} (revision {source.revision}) was not found on {hub_endpoint()}: "
        "the repository has no such file; check the file name, or the catalog entry."
    )


def _fetch(
    source: HuggingFaceSource, commit: str, where: str, report: Callable[[str], None]
) -> Path:
    """Download by the source's revision, not by `commit` (what it named at the listing), so that
    huggingface_hub records which commit a branch named, for offline runs; the sha256 check
    after the download catches a branch that moved in between."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(source.repo, source.file, revision=commit), str):
        report(f"Downloading {where} from {hub_url(source)} into {hub_cache()}")
    try:
        return Path(
            hf_hub_download(
                source.repo,
                source.file,
                revision=source.revision,
                library_name=LIBRARY_NAME,
                library_version=LIBRARY_VERSION,
            )
        )
    except Exception as error:
        raise translate(error, where, source.repo, source.revision) from None


def _cached_file(source: HuggingFaceSource) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source.repo, source.file, revision=source.revision)
    return Path(found) if isinstance(found, str) else None


def _evict_corrupt(path: Path, expected_sha256: str) -> bool:
    """Remove a file from the Hugging Face cache when its blob is named by the expected sha256
    (the name the Hub gave it: the Hub vouched for the right file, the bytes that arrived are not
    it), so that the next pull downloads it again instead of reusing it. Any other mismatch is the
    Hub's real file, which other tools may use: it stays."""
    blob = path.resolve()
    if blob.name != expected_sha256:
        return False
    with contextlib.suppress(OSError):
        path.unlink()
        blob.unlink(missing_ok=True)
    return True


def translate(error: Exception, where: str, repo: str, revision: str) -> Exception:
    """The GapbenchError for a failure of a huggingface_hub call about `where` (a file, or a
    repository); `error` itself when it is none of the Hub's failures (a bug keeps its traceback).

    The order matters: most of huggingface_hub's HTTP errors are OSErrors too.
    """
    import httpx2
    from huggingface_hub import errors

    if isinstance(error, errors.OfflineModeIsEnabled) or (
        isinstance(error, errors.LocalEntryNotFoundError) and is_offline()
    ):
        return HubOffline(
            f"HF_HUB_OFFLINE is set and {where} is not in the Hugging Face cache ({hub_cache()}): "
            "unset HF_HUB_OFFLINE to download it."
        )
    if isinstance(error, errors.LocalEntryNotFoundError):
        # Neither on the Hub nor in the cache; the cause says why the Hub could not be asked.
        cause = error.__cause__
        if isinstance(cause, Exception):
            return translate(cause, where, repo, revision)
        return GapbenchError(f"{where} is not in the Hugging Face cache ({hub_cache()}).")
    if isinstance(error, errors.HfHubHTTPError):
        return _http_error(error, error.response.status_code, where, repo, revision)
    if isinstance(error, errors.FileMetadataError):
        return GapbenchError(
            f"{hub_endpoint()} did not answer like a Hugging Face Hub for {where} (no commit or "
            "ETag in its answer): check HF_ENDPOINT, and any proxy between you and the Hub."
        )
    if isinstance(error, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.ProxyError):
        return HubUnreachable(
            f"Cannot reach {hub_endpoint()} ({error}): check your connection, "
            "or set HF_ENDPOINT to a reachable mirror."
        )
    if isinstance(error, httpx2.TransportError):
        return GapbenchError(
            f"The connection to {hub_endpoint()} broke off while fetching {where} ({error}): "
            "run the command again."
        )
    if isinstance(error, OSError):
        if error.errno is None:  # huggingface_hub's size check: fewer bytes came than announced
            return GapbenchError(
                f"The download of {where} stopped short of the size the Hub announced: "
                "run the command again."
            )
        return storage_error(error, hub_cache(), setting=HUB_CACHE_SETTING)
    return error


def _http_error(error: Exception, code: int, where: str, repo: str, revision: str) -> GapbenchError:
    from huggingface_hub import errors, get_token

    if isinstance(error, errors.GatedRepoError):
        if get_token() is None:
            return GapbenchError(
                f"{repo} is gated (HTTP {code}): accept its licence on its Hub page, then log in "
                "with `hf auth login` or set HF_TOKEN to a token of that account."
            )
        return GapbenchError(
            f"{repo} is gated and the token in use (HF_TOKEN, or the one `hf auth login` saved) "
            f"may not read it (HTTP {code}): accept its licence on its Hub page with the "
            "token's account."
        )
    if isinstance(error, errors.RepositoryNotFoundError) and code == 401:
        # The Hub answers 401 for a repository that does not exist as for a private one.
        return GapbenchError(
            f"{repo} was not found on {hub_endpoint()}, or it is private (HTTP 401): check the "
            "repository name, or log in with `hf auth login` (or set HF_TOKEN) to read it."
        )
    if code in (401, 403):
        return GapbenchError(
            f"The Hub refused access to {where} (HTTP {code}): set HF_TOKEN (or run "
            f"`hf auth login`) with a token that can read {repo}."
        )
    if code == 404:
        return GapbenchError(
            f"{where} (revision {revision}) was not found on {hub_endpoint()} (HTTP 404): "
            "check the repository name and revision, or the catalog entry."
        )
    return (HubUnreachable if code >= 500 or code == 429 else GapbenchError)(
        f"The Hub answered HTTP {code} for {where}: try again later, "
        "or set HF_ENDPOINT to a mirror."
    )
