"""Download model files from the Hugging Face Hub with the standard library (no extra dependency).

Used only by users who are online and ask for it; tests serve files from a loopback server
through HF_ENDPOINT.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import quote, urlsplit

from gapbench.catalog.types import HuggingFaceSource
from gapbench.errors import GapbenchError, ModelFileError

DEFAULT_ENDPOINT = "https://huggingface.co"


class HubUnreachable(GapbenchError):
    """No answer from the Hub at all (as opposed to an HTTP error it answered)."""


_BLOCK = 1 << 20
_TIMEOUT_S = 60


def hub_endpoint() -> str:
    """The Hub address: $HF_ENDPOINT (mirrors, tests) or huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_url(source: HuggingFaceSource) -> str:
    """The resolve URL of a file on the Hub."""
    return (
        f"{hub_endpoint()}/{quote(source.repo)}/resolve/"
        f"{quote(source.revision, safe='')}/{quote(source.file)}"
    )


class _SameHostAuthRedirects(urllib.request.HTTPRedirectHandler):
    """Keep the token on redirects within the Hub, drop it when the Hub redirects to a CDN."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: object,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]
        token = req.unredirected_hdrs.get("Authorization")
        if new is not None and token and urlsplit(newurl).netloc == urlsplit(req.full_url).netloc:
            new.add_unredirected_header("Authorization", token)
        return new


def fetch_to(
    source: HuggingFaceSource,
    target: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Stream a Hub file into `target` (created or truncated) and return its sha256.

    HTTP and network failures raise GapbenchError; errors writing `target` propagate as OSError
    so the caller, who owns the directory, can say what to do about them.
    """
    where = f"{source.repo}/{source.file}"
    response = open_hub_url(hub_url(source), where, source.repo, source.revision)
    digest = hashlib.sha256()
    with response, target.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        received, next_report = 0, 0.1
        try:
            while block := response.read(_BLOCK):
                out.write(block)
                digest.update(block)
                received += len(block)
                if progress and total and received / total >= next_report:
                    progress(f"Downloading {where}: {received * 100 // total}%")
                    next_report += 0.1
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise GapbenchError(
                f"The download of {where} broke off after {received} bytes ({error}): "
                "run the pull again."
            ) from None
        out.flush()
        os.fsync(out.fileno())
    if total and received != total:
        raise GapbenchError(
            f"The download of {where} stopped at {received} of {total} bytes: run the pull again."
        )
    return digest.hexdigest()


def open_hub_url(url: str, where: str, repo: str, revision: str) -> http.client.HTTPResponse:
    """GET a Hub URL with HF_TOKEN (kept to the Hub's own host); clear GapbenchErrors for HTTP
    and network failures. `where` names the thing fetched in those messages."""
    request = urllib.request.Request(url, headers={"User-Agent": "gapbench"})
    token = os.environ.get("HF_TOKEN")
    if token:
        # Unredirected: urllib would otherwise forward the token to whatever host a redirect names.
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(_SameHostAuthRedirects())
    try:
        response: http.client.HTTPResponse = opener.open(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        raise _http_error(error.code, where, repo, revision) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise HubUnreachable(
            f"Cannot reach {hub_endpoint()} ({reason}): check your connection, "
            "or set HF_ENDPOINT to a reachable mirror."
        ) from None
    return response


def _http_error(code: int, where: str, repo: str, revision: str) -> GapbenchError:
    if code in (401, 403):
        return GapbenchError(
            f"The Hub refused access to {where} (HTTP {code}): set HF_TOKEN to a token that "
            f"can read {repo}, and accept the model's licence on its Hub page."
        )
    if code == 404:
        return GapbenchError(
            f"{where} (revision {revision}) was not found on {hub_endpoint()} (HTTP 404): "
            "check the repository name and revision, or the catalog entry."
        )
    return GapbenchError(
        f"The Hub answered HTTP {code} for {where}: "
        "try again later, or set HF_ENDPOINT to a mirror."
    )


def download_from_hub(
    source: HuggingFaceSource,
    dest_dir: Path,
    *,
    filename: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Download a Hub file into dest_dir (atomically, hash-checked when the sha256 is known)."""
    from gapbench.catalog.pull import storage_error

    target = dest_dir / (filename or PurePosixPath(source.file).name)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        digest = fetch_to(source, partial, progress=progress)
        if source.sha256 is not None and digest != source.sha256:
            raise ModelFileError(
                f"{source.repo}/{source.file} failed its sha256 check (expected {source.sha256}, "
                f"got {digest}); the download may be corrupt: download it again."
            )
        os.replace(partial, target)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise storage_error(error, dest_dir) from error
    finally:
        partial.unlink(missing_ok=True)
    return target
