"""A transformers model repository on the Hugging Face Hub as a local directory: `hf:Org/Name`.

The repository listing at the revision (huggingface_hub's `model_info`: the commit sha and the
file names) says what to keep: what transformers needs to load and run the model (config,
tokenizer, chat template, safetensors weights, or .bin weights when a repository has no
safetensors). huggingface_hub's `snapshot_download` fetches those files at that commit into the
standard Hugging Face cache, `models--Org--Name/snapshots/<commit>/`, the directory transformers
and vLLM would use for the same repository, and records which commit the branch named.

Offline (HF_HUB_OFFLINE, or no answer from the Hub) the snapshot the cache already has is used
when it is complete: huggingface_hub fills a snapshot directory file by file, so a directory that
exists may be the remains of an interrupted download.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gapbench.catalog.hub import (
    LIBRARY_NAME,
    LIBRARY_VERSION,
    HubOffline,
    HubUnreachable,
    hub_cache,
    hub_endpoint,
    require_hub,
    translate,
)
from gapbench.errors import GapbenchError, UsageError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_INDEX = "model.safetensors.index.json"

_SUPPORT_FILES = frozenset(
    {
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "tokenizer.model",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
        "chat_template.jinja",
        "chat_template.json",
    }
)


def parse_hub_ref(text: str) -> tuple[str, str] | None:
    """('Org/Name', revision) for 'Org/Name' or 'Org/Name@revision'; None when `text` is not
    shaped like a Hub repository id."""
    repo, _, revision = text.partition("@")
    if not _REPO_ID.match(repo) or ".." in repo:
        return None
    return repo, revision or "main"


def needed_files(names: Sequence[str]) -> list[str]:
    """The files transformers needs from a repository listing: its config, tokenizer and chat
    template, and the safetensors weights (or the .bin ones when there are no safetensors).
    Files in subfolders (onnx/, other quantisations) are not needed."""
    top = [n for n in names if "/" not in n]
    weights = [n for n in top if n.endswith(".safetensors")]
    weights += [n for n in top if n == _INDEX]
    if not weights:
        weights = [n for n in top if n.startswith("pytorch_model")]
    return sorted({n for n in top if n in _SUPPORT_FILES} | set(weights))


def snapshot(repo: str, revision: str, progress: Callable[[str], None] | None = None) -> Path:
    """The local directory holding `repo` at `revision`, downloading it on first use."""
    require_hub()
    from huggingface_hub import HfApi, constants, snapshot_download, try_to_load_from_cache

    report = progress or _stderr
    try:
        info = HfApi(library_name=LIBRARY_NAME, library_version=LIBRARY_VERSION).model_info(
            repo, revision=revision, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT
        )
    except Exception as error:
        failure = translate(error, repo, repo, revision)
        if isinstance(failure, HubUnreachable | HubOffline):
            cached = cached_snapshot(repo, revision)
            if cached is not None:
                if isinstance(failure, HubOffline):
                    report(f"HF_HUB_OFFLINE is set: using the snapshot of {repo} in {hub_cache()}.")
                else:
                    report(
                        f"The Hub is unreachable: using the snapshot of {repo} downloaded before."
                    )
                return cached
        raise failure from None
    commit = info.sha or ""
    if not _COMMIT.match(commit):
        raise GapbenchError(
            f"{hub_endpoint()} answered something other than a model listing for {repo} "
            f"(no valid commit: {commit!r}): check HF_ENDPOINT."
        )
    files = needed_files([sibling.rfilename for sibling in info.siblings or []])
    _check_loadable(repo, files)
    missing = [
        f for f in files if not isinstance(try_to_load_from_cache(repo, f, revision=commit), str)
    ]
    if missing:
        report(f"Downloading {repo} ({len(missing)} of {len(files)} files) from {hub_endpoint()}")
    try:
        # By the branch name, not the commit: huggingface_hub then records what the branch named,
        # for offline runs. It downloads each file at the commit.
        folder = Path(
            snapshot_download(
                repo,
                revision=revision,
                allow_patterns=files,
                library_name=LIBRARY_NAME,
                library_version=LIBRARY_VERSION,
            )
        )
    except Exception as error:
        raise translate(error, repo, repo, revision) from None
    absent = [f for f in files if not (folder / f).is_file()]
    if absent:  # the branch moved between the listing and the download
        raise GapbenchError(
            f"{repo} changed on the Hub while it was being downloaded ({absent[0]} is missing "
            "from the new commit): run the command again."
        )
    if missing:
        report(f"{repo} is ready: {folder}")
    return folder


def cached_snapshot(repo: str, revision: str) -> Path | None:
    """The complete snapshot of `repo` at `revision` in the Hugging Face cache, or None."""
    from huggingface_hub import get_cached_repo_tree, try_to_load_from_cache
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    config = try_to_load_from_cache(repo, "config.json", revision=revision)
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    try:
        # The listing snapshot_download keeps with the snapshot: the files it must hold.
        names = [entry.path for entry in get_cached_repo_tree(repo, revision=revision)]
    except CachedRepoTreeNotFoundError:
        # Downloaded by another tool (transformers fetches file by file, keeping no listing):
        # what is there, with every shard its index names.
        names = [path.name for path in folder.iterdir()]
    files = needed_files(names)
    files += _indexed_shards(folder) if _INDEX in files else []
    if not _has_weights(files) or not all((folder / name).is_file() for name in files):
        return None
    return folder


def _has_weights(files: Sequence[str]) -> bool:
    return any(f.endswith((".safetensors", ".bin")) for f in files)


def _indexed_shards(folder: Path) -> list[str]:
    try:
        index = json.loads((folder / _INDEX).read_text(encoding="utf-8"))
        return sorted({str(name) for name in index["weight_map"].values()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return [_INDEX + " (unreadable)"]  # a name no file has: the snapshot is not complete


def _check_loadable(repo: str, files: Sequence[str]) -> None:
    if "config.json" not in files:
        raise UsageError(
            f"{repo} has no config.json at its top level: it is not a transformers model "
            "repository (for a GGUF repository, download the file and pass its path)."
        )
    if not _has_weights(files):
        raise UsageError(f"{repo} has no safetensors or .bin weights at its top level.")


def _stderr(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)
