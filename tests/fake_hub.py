"""A loopback HTTP server standing in for huggingface.co, speaking the part of the Hub's protocol
huggingface_hub uses to download: the model listing (GET /api/models/{repo}/revision/{rev}, with
file sizes and LFS sha256 under ?blobs=true), the file tree (GET /api/models/{repo}/tree/{rev}),
and resolve URLs (HEAD and GET /{repo}/resolve/{rev}/{file}) answering X-Repo-Commit and an ETag.

As on the Hub, a file Git LFS would hold (weights: .gguf, .safetensors, .bin...) is not served
from the resolve URL: that answers a redirect to a CDN carrying X-Linked-Etag (the file's sha256)
and X-Linked-Size, and the CDN, here the same server under the host name 'localhost', serves the
bytes, with Range requests. Errors carry the X-Error-Code huggingface_hub tells apart:
RepoNotFound (401 without a token, 404 with one), GatedRepo, RevisionNotFound, EntryNotFound.

Every request is recorded with its Authorization header, so tests can see what was asked and
where the token went.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

_LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".onnx", ".h5", ".msgpack")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")
_API = re.compile(
    r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<kind>revision|tree)/(?P<revision>[^/]+)$"
)
_CDN = re.compile(r"^/cdn/(?P<sha256>[0-9a-f]{64})$")
_BYTES = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class Seen:
    """One request the hub answered."""

    method: str
    path: str
    """Without the query string."""
    host: str
    authorization: str | None
    range: str | None


def git_blob_sha1(body: bytes) -> str:
    """What git, and so the Hub, names a file by: sha1 of 'blob <size>\\0' and the bytes."""
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


def is_lfs(name: str) -> bool:
    return name.endswith(_LFS_SUFFIXES)


class Hub:
    """What the fake hub serves, and what it saw."""

    def __init__(self) -> None:
        self.commits: dict[str, dict[str, dict[str, bytes]]] = {}
        """repo -> commit -> file name -> bytes."""
        self.branches: dict[str, dict[str, str]] = {}
        """repo -> branch name -> commit."""
        self.gated: dict[str, str] = {}
        """repo -> the one token that may download its files (its listing stays public)."""
        self.renamed: dict[str, str] = {}
        """old repo id -> new: every path naming the old one is redirected, as the Hub does."""
        self.statuses: dict[str, int] = {}
        """path -> an HTTP error status answered instead of anything else."""
        self.tampered: dict[str, bytes] = {}
        """sha256 -> the bytes the CDN sends instead of that file's (a corrupt transfer)."""
        self.cuts: dict[str, list[int]] = {}
        """path -> byte counts: each GET takes the first and closes the connection after that
        many bytes of the body (a transfer that breaks off)."""
        self.seen: list[Seen] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_repo(
        self, repo: str, files: Mapping[str, bytes], commit: str = "c" * 40, branch: str = "main"
    ) -> None:
        """Serve `files` as `repo` at `commit`, which `branch` points to."""
        self.commits.setdefault(repo, {})[commit] = dict(files)
        self.branches.setdefault(repo, {})[branch] = commit

    def add_directory(self, repo: str, directory: Path, commit: str = "c" * 40) -> None:
        files = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
        self.add_repo(repo, files, commit)

    def requested(self, prefix: str, method: str | None = None) -> list[str]:
        """Paths asked for that start with `prefix` (in order, without repeats)."""
        paths = [
            s.path
            for s in self.seen
            if s.path.startswith(prefix) and (method is None or s.method == method)
        ]
        return list(dict.fromkeys(paths))

    @property
    def auth_seen(self) -> dict[str, str | None]:
        """path -> the Authorization header of the last request for it."""
        return {s.path: s.authorization for s in self.seen}

    def cdn_path(self, body: bytes) -> str:
        return f"/cdn/{hashlib.sha256(body).hexdigest()}"

    def find_blob(self, sha256: str) -> bytes | None:
        for commits in self.commits.values():
            for files in commits.values():
                for body in files.values():
                    if hashlib.sha256(body).hexdigest() == sha256:
                        return self.tampered.get(sha256, body)
        return None

    def commit_of(self, repo: str, revision: str) -> str | None:
        if revision in self.commits[repo]:
            return revision
        return self.branches[repo].get(revision)


class _Answer(Exception):
    """An answer without a body of interest: a status, headers."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers or {}


def _listing(repo: str, commit: str, files: Mapping[str, bytes], blobs: bool) -> dict[str, Any]:
    siblings: list[dict[str, Any]] = []
    for name, body in files.items():
        sibling: dict[str, Any] = {"rfilename": name}
        if blobs:
            sibling |= {"size": len(body), "blobId": git_blob_sha1(body)}
            if is_lfs(name):
                lfs = {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
                sibling["lfs"] = lfs | {"pointerSize": 134}
        siblings.append(sibling)
    return {"id": repo, "modelId": repo, "sha": commit, "private": False, "siblings": siblings}


def _tree(files: Mapping[str, bytes], recursive: bool) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    folders: set[str] = set()
    for name, body in files.items():
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folders.add("/".join(parts[:depth]))
        if len(parts) > 1 and not recursive:
            continue
        entry: dict[str, Any] = {
            "type": "file",
            "oid": git_blob_sha1(body),
            "size": len(body),
            "path": name,
        }
        if is_lfs(name):
            sha256 = hashlib.sha256(body).hexdigest()
            entry["lfs"] = {"oid": sha256, "size": len(body), "pointerSize": 134}
        entries.append(entry)
    for folder in sorted(folders):
        if recursive or "/" not in folder:
            entries.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
    return entries


def use_hub(
    monkeypatch: pytest.MonkeyPatch, url: str, home: Path, *, offline: bool = False
) -> None:
    """Point huggingface_hub, in this process, at `url` and at the Hugging Face home `home`, as
    a process started with HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE set would see them.

    huggingface_hub reads those variables once, when it is imported (and another test module may
    have imported it with HF_HUB_OFFLINE=1), so the values it derived are set as well; the tests
    that start gapbench as a subprocess check the variables themselves.
    """
    from huggingface_hub import constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "HF_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    derived = {
        "ENDPOINT": url,
        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json"),
        "HF_HUB_OFFLINE": offline,
    }
    for name, value in derived.items():
        monkeypatch.setattr(constants, name, value)


def hub_env(url: str, home: Path, *, offline: bool = False) -> dict[str, str]:
    """The environment for a gapbench subprocess using the fake hub and its own HF home."""
    return {"HF_ENDPOINT": url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1" if offline else "0"}


@contextmanager
def serve_hub() -> Iterator[Hub]:
    state = Hub()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self._handle(send_body=False)

        def do_GET(self) -> None:
            self._handle(send_body=True)

        def _handle(self, send_body: bool) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            state.seen.append(
                Seen(
                    self.command,
                    path,
                    (self.headers.get("Host") or "").split(":")[0],
                    self.headers.get("Authorization"),
                    self.headers.get("Range"),
                )
            )
            try:
                if path in state.statuses:
                    raise _Answer(state.statuses[path])
                for old, new in state.renamed.items():
                    if f"/{old}/" in path:
                        location = self.path.replace(f"/{old}/", f"/{new}/", 1)
                        raise _Answer(307, {"Location": location})
                if match := _CDN.match(path):
                    body = state.find_blob(match["sha256"])
                    if body is None:
                        raise _Answer(404)
                    self._send_bytes(path, body, {"ETag": f'"{match["sha256"]}"'}, send_body)
                elif match := _API.match(path):
                    self._api(match["repo"], match["kind"], unquote(match["revision"]), query)
                elif match := _RESOLVE.match(path):
                    self._resolve(
                        match["repo"], unquote(match["revision"]), unquote(match["file"]), send_body
                    )
                else:
                    raise _Answer(404)
            except _Answer as answer:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def _repo(self, repo: str, files_wanted: bool) -> None:
            token = self.headers.get("Authorization")
            if repo not in state.commits:
                # The Hub cannot tell a missing repository from a private one without a token.
                status = 404 if token else 401
                raise _Answer(status, {"X-Error-Code": "RepoNotFound"})
            if files_wanted and repo in state.gated and token != f"Bearer {state.gated[repo]}":
                message = f"Access to model {repo} is restricted."
                status = 403 if token else 401
                raise _Answer(status, {"X-Error-Code": "GatedRepo", "X-Error-Message": message})

        def _api(self, repo: str, kind: str, revision: str, query: dict[str, list[str]]) -> None:
            self._repo(repo, files_wanted=False)
            commit = state.commit_of(repo, revision)
            if commit is None:
                raise _Answer(404, {"X-Error-Code": "RevisionNotFound"})
            files = state.commits[repo][commit]
            data: object
            if kind == "revision":
                blobs = query.get("blobs", ["false"])[0].lower() == "true"
                data = _listing(repo, commit, files, blobs)
            else:
                recursive = query.get("recursive", ["false"])[0].lower() == "true"
                data = _tree(files, recursive)
            body = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _resolve(self, repo: str, revision: str, name: str, send_body: bool) -> None:
            self._repo(repo, files_wanted=True)
            commit = state.commit_of(repo, revision)
            if commit is None:
                raise _Answer(404, {"X-Error-Code": "RevisionNotFound"})
            body = state.commits[repo][commit].get(name)
            if body is None:
                raise _Answer(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit})
            headers = {"X-Repo-Commit": commit, "ETag": f'"{git_blob_sha1(body)}"'}
            if not is_lfs(name):
                self._send_bytes(self.path.split("?")[0], body, headers, send_body)
                return
            sha256 = hashlib.sha256(body).hexdigest()
            headers |= {
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(body)),
                "Location": f"http://localhost:{state.port}/cdn/{sha256}",
            }
            raise _Answer(302, headers)

        def _send_bytes(
            self, path: str, body: bytes, headers: dict[str, str], send_body: bool
        ) -> None:
            start, end = 0, len(body)
            wanted = _BYTES.match(self.headers.get("Range") or "")
            if wanted:
                start = int(wanted[1])
                end = int(wanted[2]) + 1 if wanted[2] else len(body)
                if start >= len(body):
                    raise _Answer(416, {"Content-Range": f"bytes */{len(body)}"})
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(body)}")
            else:
                self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start))
            self.end_headers()
            if not send_body:
                return
            part = body[start:end]
            cuts = state.cuts.get(path)
            if cuts:
                self.wfile.write(part[: cuts.pop(0)])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
