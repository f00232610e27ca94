"""A transformers model repository on the Hugging Face Hub as a local directory: `hf:Org/Name`.

The Hub API lists a repository's files at a revision (GET /api/models/{repo}/revision/{rev}, the
call huggingface_hub's `model_info` makes, answering the commit sha and the file names). We keep
what transformers needs to load and run the model (config, tokenizer, chat template, safetensors
weights, or .bin weights when a repository has no safetensors), download them with hub.fetch_to
into `<cache>/hf/<org>--<name>/<commit>/`, and rename the directory into place once every file
has arrived: a snapshot directory that exists is complete, and a commit never changes, so it is
reused without asking the Hub again. `refs/<revision>` remembers which commit a branch name
pointed to, so a machine that went offline still runs the snapshot it already has.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from gapbench.catalog.hub import HubUnreachable, fetch_to, hub_endpoint, open_hub_url
from gapbench.catalog.types import HuggingFaceSource
from gapbench.errors import GapbenchError, UsageError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")

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
    weights += [n for n in top if n == "model.safetensors.index.json"]
    if not weights:
        weights = [n for n in top if n.startswith("pytorch_model")]
    return sorted({n for n in top if n in _SUPPORT_FILES} | set(weights))


def list_repo(repo: str, revision: str) -> tuple[str, list[str]]:
    """(commit sha, file names) of a Hub repository at a revision."""
    url = f"{hub_endpoint()}/api/models/{quote(repo)}/revision/{quote(revision, safe='')}"
    with open_hub_url(url, repo, repo, revision) as response:
        raw = response.read()
    try:
        info = json.loads(raw)
        commit = str(info["sha"])
        names = [str(entry["rfilename"]) for entry in info["siblings"]]
    except (ValueError, KeyError, TypeError):
        raise GapbenchError(
            f"{hub_endpoint()} answered something other than a model listing for {repo}: "
            "check HF_ENDPOINT."
        ) from None
    if not _COMMIT.match(commit):
        raise GapbenchError(f"The Hub listing of {repo} names no valid commit ({commit!r}).")
    return commit, names


def repo_dir(cache: Path, repo: str) -> Path:
    return cache / "hf" / repo.replace("/", "--")


def snapshot(
    repo: str, revision: str, cache: Path, progress: Callable[[str], None] | None = None
) -> Path:
    """The local directory holding `repo` at `revision`, downloading it on first use."""
    report = progress or _stderr
    base = repo_dir(cache, repo)
    ref_file = base / "refs" / revision.replace("/", "--")
    try:
        commit, names = list_repo(repo, revision)
    except HubUnreachable:
        offline = _known_snapshot(base, ref_file, revision)
        if offline is None:
            raise
        report(f"The Hub is unreachable: using the snapshot of {repo} already downloaded.")
        return offline
    target = base / "snapshots" / commit
    if not target.is_dir():
        files = needed_files(names)
        _check_loadable(repo, files)
        _download(repo, commit, files, target, report)
    ref_file.parent.mkdir(parents=True, exist_ok=True)
    ref_file.write_text(commit, encoding="utf-8")
    return target


def _known_snapshot(base: Path, ref_file: Path, revision: str) -> Path | None:
    commit = revision if _COMMIT.match(revision) else None
    if commit is None and ref_file.is_file():
        commit = ref_file.read_text(encoding="utf-8").strip()
    if commit is None or not (base / "snapshots" / commit).is_dir():
        return None
    return base / "snapshots" / commit


def _check_loadable(repo: str, files: Sequence[str]) -> None:
    if "config.json" not in files:
        raise UsageError(
            f"{repo} has no config.json at its top level: it is not a transformers model "
            "repository (for a GGUF repository, download the file and pass its path)."
        )
    if not any(f.endswith((".safetensors", ".bin")) for f in files):
        raise UsageError(f"{repo} has no safetensors or .bin weights at its top level.")


def _download(
    repo: str, commit: str, files: Sequence[str], target: Path, report: Callable[[str], None]
) -> None:
    """Fetch every file into a private directory, then rename it into place in one step."""
    partial = target.with_name(f"{commit}.partial-{os.getpid()}")
    report(f"Downloading {repo} ({len(files)} files) from {hub_endpoint()}")
    try:
        partial.mkdir(parents=True, exist_ok=True)
        for name in files:
            source = HuggingFaceSource(repo=repo, file=name, revision=commit)
            fetch_to(source, partial / PurePosixPath(name).name, progress=report)
        os.replace(partial, target)
    except OSError as error:
        from gapbench.catalog.pull import storage_error

        raise storage_error(error, target.parent) from error
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    report(f"{repo} is ready: {target}")


def _stderr(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)
