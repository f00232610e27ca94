"""Backend lookup, options, and the machine description that goes with every run."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest

from gapbench.backends import hardware
from gapbench.backends.base import Backend
from gapbench.backends.registry import BackendOptions, available_backends, load_backend
from gapbench.catalog.types import ModelSpec
from gapbench.errors import BackendError, UsageError


def spec(backend: str, model_id: str = "m", context_length: int = 8192) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        display_name=model_id,
        family="test",
        organisation="test",
        origin="US",
        params=1,
        kind="instruct",
        license="MIT",
        context_length=context_length,
        quantization="Q4_0",
        backend=backend,
    )


def test_registered_backends() -> None:
    assert available_backends() == ["llamacpp", "openai", "scripted", "transformers"]


def test_unknown_backend_is_usage_error_with_suggestion() -> None:
    with pytest.raises(UsageError, match="Unknown backend 'llamacp'") as info:
        load_backend(spec("llamacp"), None, BackendOptions())
    assert "Did you mean: llamacpp" in str(info.value)


def test_missing_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def no_llama(name: str, package: str | None = None) -> ModuleType:
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ImportError("No module named 'llama_cpp'")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", no_llama)
    with pytest.raises(BackendError) as info:
        load_backend(spec("llamacpp"), Path("/nonexistent.gguf"), BackendOptions())
    assert "pip install 'gapbench[llama]'" in str(info.value)
    assert not isinstance(info.value, UsageError)


def test_scripted_backend_loads_without_weights() -> None:
    backend = load_backend(spec("scripted", "scripted:alice?accuracy=0.5"), None, BackendOptions())
    assert isinstance(backend, Backend)
    assert backend.info().backend == "scripted"


def test_options_defaults_and_validation() -> None:
    options = BackendOptions()
    assert options.batch_size is None and options.seed == 0 and not options.verbose
    assert options.context_per_sequence(spec("x", context_length=8192)) == 2048
    assert options.context_per_sequence(spec("x", context_length=1024)) == 1024
    assert BackendOptions(n_ctx=4096).context_per_sequence(spec("x", context_length=1024)) == 4096
    assert BackendOptions(threads=3).resolved_threads() == 3
    assert BackendOptions().resolved_threads() == hardware.physical_cores()
    for bad in ({"threads": 0}, {"batch_size": 0}, {"n_ctx": 1}):
        with pytest.raises(UsageError):
            BackendOptions(**bad)  # type: ignore[arg-type]


# --- hardware --------------------------------------------------------------------------------

CPUINFO_2_SOCKETS_HT = "\n\n".join(
    f"processor\t: {i}\nmodel name\t: Test CPU\nphysical id\t: {sock}\ncore id\t\t: {core}"
    for i, (sock, core) in enumerate(
        [(s, c) for s in (0, 1) for c in (0, 1, 2)] * 2  # 2 sockets x 3 cores x 2 threads
    )
)


def test_physical_cores_counts_core_socket_pairs() -> None:
    assert hardware.physical_cores(CPUINFO_2_SOCKETS_HT) == 6


def test_physical_cores_falls_back_to_cpu_count() -> None:
    assert hardware.physical_cores("processor\t: 0\n") == (os.cpu_count() or 1)


def test_describe_device_and_peak_rss() -> None:
    text = hardware.describe_device()
    assert f"{hardware.physical_cores()} physical cores" in text
    if Path("/proc/meminfo").exists():
        assert "GiB RAM" in text
    assert hardware.peak_rss_mb() > 1.0


@pytest.mark.slow
def test_load_llamacpp_through_registry(smollm2_file: Path) -> None:
    backend = load_backend(
        spec("llamacpp", "smollm2-135m-instruct"),
        smollm2_file,
        BackendOptions(n_ctx=256, threads=1),
    )
    try:
        info = backend.info()
        assert info.backend == "llamacpp"
        assert info.threads == 1
        assert info.extra["n_ctx"] == "256"
    finally:
        backend.close()


def test_batch_size_auto_resolution() -> None:
    assert BackendOptions().batch_size is None
    assert BackendOptions().resolved_batch_size() == 1  # a backend that does not batch
    assert BackendOptions().resolved_batch_size(8) == 8
    assert BackendOptions(batch_size=1).resolved_batch_size(8) == 1
    assert BackendOptions(batch_size=3).resolved_batch_size(8) == 3


def test_llamacpp_auto_batch_size_is_capped_by_kv_memory() -> None:
    from gapbench.backends.llamacpp import AUTO_BATCH_SIZE, KV_MEMORY_SHARE, auto_batch_size

    mib = 2**20
    assert auto_batch_size(24 * mib, available=16 * 1024 * mib) == AUTO_BATCH_SIZE
    assert auto_batch_size(24 * mib, available=None) >= 1
    # A 1 GiB-per-sequence cache on 16 GiB: a quarter is 4 GiB, 4 sequences, one is the prefix's.
    assert KV_MEMORY_SHARE == 0.25
    assert auto_batch_size(1024 * mib, available=16 * 1024 * mib) == 3
    assert auto_batch_size(1024 * mib, available=2 * 1024 * mib) == 1


def test_available_ram_is_read_from_meminfo() -> None:
    text = "MemTotal:       24000000 kB\nMemAvailable:   1000 kB\n"
    assert hardware.available_ram_bytes(text) == 1000 * 1024
    assert hardware.available_ram_bytes("MemTotal: 5 kB\n") is None
