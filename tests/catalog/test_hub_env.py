"""The Hugging Face settings as a user sets them: HF_HOME, HF_HUB_OFFLINE, HF_TOKEN and the token
`hf auth login` saves, each read by a fresh gapbench process (huggingface_hub reads them when it
is imported), against the loopback hub of tests/fake_hub.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.catalog.test_hub import GGUF_BYTES, GGUF_SHA256, NEEDED, TINY_REPO
from tests.fake_hub import Hub, serve_hub

pytestmark = pytest.mark.network

COMMIT = "a" * 40


def run(
    args: list[str], home: Path, hub_url: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    """`args` in a subprocess whose only Hugging Face settings are HF_HOME, HF_ENDPOINT and
    `settings` (none inherited from this process or the machine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.pop("TRANSFORMERS_OFFLINE", None)
    env |= {"HF_HOME": str(home), "HF_ENDPOINT": hub_url, "COLUMNS": "200", **settings}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)


def gapbench(
    *args: str, home: Path, hub_url: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "gapbench", *args], home, hub_url, **settings)


def snapshot_dir(home: Path, repo: str) -> Path:
    return home / "hub" / ("models--" + repo.replace("/", "--")) / "snapshots" / COMMIT


def test_repository_lands_under_hf_home_and_offline_mode_reuses_it(tmp_path: Path) -> None:
    home = tmp_path / "hf-home"
    with serve_hub() as hub:
        hub.add_repo("org/tiny", TINY_REPO, commit=COMMIT)
        first = gapbench("models", "pull", "hf:org/tiny", home=home, hub_url=hub.url)
        assert first.returncode == 0, first.stderr
        folder = snapshot_dir(home, "org/tiny")
        assert first.stdout.strip() == f"hf:org/tiny: {folder}"
        assert sorted(p.name for p in folder.iterdir()) == NEEDED
        assert "Downloading org/tiny (4 of 4 files)" in first.stderr

        hub.seen.clear()
        offline = gapbench(
            "models", "pull", "hf:org/tiny", home=home, hub_url=hub.url, HF_HUB_OFFLINE="1"
        )
        assert offline.returncode == 0, offline.stderr
        assert offline.stdout.strip() == f"hf:org/tiny: {folder}"
        assert f"HF_HUB_OFFLINE is set: using the snapshot of org/tiny in {home / 'hub'}" in (
            offline.stderr
        )
        missing = gapbench(
            "models", "pull", "hf:org/other", home=home, hub_url=hub.url, HF_HUB_OFFLINE="1"
        )
        assert hub.seen == []  # offline means not a single request
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"Error: HF_HUB_OFFLINE is set and org/other is not in the Hugging Face cache "
        f"({home / 'hub'}): unset HF_HUB_OFFLINE to download it."
    )
    assert "Traceback" not in missing.stderr


def _gated(hub: Hub) -> None:
    hub.add_repo("org/gated", TINY_REPO, commit=COMMIT)
    hub.gated["org/gated"] = "hf_saved_token"


def test_the_saved_login_token_and_hf_token_are_sent(tmp_path: Path) -> None:
    home = tmp_path / "hf-home"
    with serve_hub() as hub:
        _gated(hub)
        refused = gapbench("models", "pull", "hf:org/gated", home=home, hub_url=hub.url)
        assert refused.returncode == 1
        assert "org/gated is gated (HTTP 401)" in refused.stderr
        assert "Traceback" not in refused.stderr

        home.mkdir(parents=True, exist_ok=True)
        (home / "token").write_text("hf_saved_token\n")  # where `hf auth login` saves it
        saved = gapbench("models", "pull", "hf:org/gated", home=home, hub_url=hub.url)
        assert saved.returncode == 0, saved.stderr
        fetched = hub.requested("/org/gated/resolve/")
        assert fetched and all(hub.auth_seen[p] == "Bearer hf_saved_token" for p in fetched)

        # HF_TOKEN comes before the saved token.
        hub.seen.clear()
        hub.gated["org/gated"] = "hf_env_token"
        (home / "hub").rename(tmp_path / "old-cache")  # so the files are asked for again
        from_env = gapbench(
            "models", "pull", "hf:org/gated", home=home, hub_url=hub.url, HF_TOKEN="hf_env_token"
        )
        assert from_env.returncode == 0, from_env.stderr
        fetched = hub.requested("/org/gated/resolve/")
        assert fetched and all(hub.auth_seen[p] == "Bearer hf_env_token" for p in fetched)


def test_gguf_pull_uses_hf_home_and_offline_mode(tmp_path: Path) -> None:
    """A catalog-style GGUF source, pulled by a fresh process, lands under HF_HOME; offline, a
    fresh model cache is filled from it without a request."""
    script = textwrap.dedent(
        f"""
        import sys
        from gapbench.catalog.pull import pull
        from gapbench.catalog.types import HuggingFaceSource, ModelSpec
        from gapbench.errors import GapbenchError

        source = HuggingFaceSource(repo="org/repo", file=sys.argv[1], sha256={GGUF_SHA256!r})
        spec = ModelSpec(
            id="hub-model", display_name="Hub model", family="fake", organisation="Tests",
            origin="US", params=8, kind="base", license="MIT", context_length=128,
            quantization="F32", sources=[source],
        )
        try:
            print(pull(spec).resolve())
        except GapbenchError as error:
            sys.exit(str(error))
        """
    )
    home = tmp_path / "hf-home"
    with serve_hub() as hub:
        hub.add_repo("org/repo", {"tiny.gguf": GGUF_BYTES, "other.gguf": GGUF_BYTES + b"x"})
        cache = {"GAPBENCH_CACHE": str(tmp_path / "cache")}
        online = run([sys.executable, "-c", script, "tiny.gguf"], home, hub.url, **cache)
        assert online.returncode == 0, online.stderr
        blob = home / "hub" / "models--org--repo" / "blobs" / GGUF_SHA256
        assert online.stdout.strip() == str(blob)
        assert blob.read_bytes() == GGUF_BYTES

        hub.seen.clear()
        fresh = {"GAPBENCH_CACHE": str(tmp_path / "fresh-cache"), "HF_HUB_OFFLINE": "1"}
        offline = run([sys.executable, "-c", script, "tiny.gguf"], home, hub.url, **fresh)
        assert offline.returncode == 0, offline.stderr
        assert offline.stdout.strip() == str(blob)
        absent = run([sys.executable, "-c", script, "other.gguf"], home, hub.url, **fresh)
        assert hub.seen == []
    assert absent.returncode == 1
    assert absent.stderr.strip() == (
        f"HF_HUB_OFFLINE is set and org/repo/other.gguf is not in the Hugging Face cache "
        f"({home / 'hub'}): unset HF_HUB_OFFLINE to download it."
    )
