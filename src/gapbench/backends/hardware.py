"""What machine a run happened on: stored with results so speed numbers keep their context."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

_CPUINFO = Path("/proc/cpuinfo")
_MEMINFO = Path("/proc/meminfo")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def physical_cores(cpuinfo: str | None = None) -> int:
    """Number of physical CPU cores (hyper-threads not counted), or os.cpu_count() when unknown.

    llama.cpp decodes fastest with one thread per physical core: hyper-threads share the FPU and
    memory bandwidth that bound decoding, so using them usually slows it down.
    """
    text = _read(_CPUINFO) if cpuinfo is None else cpuinfo
    cores: set[tuple[str, str]] = set()
    physical_id = core_id = None
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical_id = value.strip()
        elif key == "core id":
            core_id = value.strip()
        elif not line.strip():
            # A blank line ends one logical processor's block.
            if core_id is not None:
                cores.add((physical_id or "0", core_id))
            physical_id = core_id = None
    if cores:
        return len(cores)
    return max(1, os.cpu_count() or 1)


def _cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def _total_ram_gib(meminfo: str) -> float | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) / (1024 * 1024)  # the value is in KiB
    return None


def available_ram_bytes(meminfo: str | None = None) -> int | None:
    """Memory the kernel could hand out now without swapping (MemAvailable), None when unknown."""
    text = _read(_MEMINFO) if meminfo is None else meminfo
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024  # the value is in KiB
    return None


def _gpus() -> list[str]:
    """GPU names from `nvidia-smi -L`; empty when there is no NVIDIA driver (the common case)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        proc = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=3, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    names = []
    for line in proc.stdout.splitlines():
        # "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"
        _, _, rest = line.partition(":")
        name = rest.split("(UUID")[0].strip()
        if name:
            names.append(name)
    return names


def describe_device() -> str:
    """One line describing the machine, e.g. 'AMD EPYC 7B13, 2 physical cores, 23.4 GiB RAM'."""
    cpuinfo = _read(_CPUINFO)
    parts = [_cpu_model(cpuinfo), f"{physical_cores(cpuinfo)} physical cores"]
    ram = _total_ram_gib(_read(_MEMINFO))
    if ram is not None:
        parts.append(f"{ram:.1f} GiB RAM")
    gpus = _gpus()
    if gpus:
        parts.append("GPU: " + "; ".join(gpus))
    return ", ".join(parts)


def reset_peak_rss() -> bool:
    """Restart the peak-memory count of this process (Linux: write 5 to /proc/self/clear_refs), so
    that each model loaded in turn gets its own peak. False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB since start or the last reset_peak_rss()."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
