"""Run model-written Python in a sandbox: the parent side.

Model-written code is hostile until proven otherwise. Each program runs in its own session (so a
timeout kills the whole process group) under the launcher in isolation.py, which adds namespaces
(no network, a private pid space whose teardown reaps daemons, private /tmp), rlimits (CPU, address
space, file size, open files, processes), an unprivileged uid when we are root, a fresh working
directory that is removed afterwards, a scrubbed environment and `python -I -S` (programs see the
standard library only, no site-packages). Here we cap the output, enforce the wall clock and turn
what happened into a `SandboxResult`.

The isolation level is probed once per process (`isolation_level()`): a host that cannot create
namespaces degrades to the `rlimits` level with a warning carried by every result, never to none;
a host where even that fails raises `SandboxUnavailable`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from gapbench.errors import GapbenchError
from gapbench.scoring.isolation import (
    EXIT_FORBIDDEN,
    EXIT_MEMORY,
    EXIT_SETUP,
    NAMESPACES,
    RLIMITS,
)

Status = Literal["passed", "failed", "timeout", "memory", "forbidden", "output-limit", "error"]

_LAUNCHER = str(Path(__file__).with_name("isolation.py"))
_PROGRAM_NAME = "program.py"
_SANDBOX_UIDS = range(61000, 61064)
"""Throwaway uids for programs when we run as root: one per concurrent program, so RLIMIT_NPROC
(counted per uid) limits each program on its own. They need no passwd entry."""
_DRAIN_S = 1.0
_KEEP_OUTPUT = 4096


class SandboxUnavailable(GapbenchError):
    """Not even the weakest isolation level works on this host."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one program."""

    cpu_s: int = 5
    """CPU seconds (RLIMIT_CPU): SIGXCPU at the limit, SIGKILL one second later."""
    wall_s: float = 10.0
    """Wall-clock seconds from start to kill; catches sleeping programs that use no CPU."""
    memory_mb: int = 1024
    """Address space (RLIMIT_AS)."""
    file_size_mb: int = 16
    """Largest file the program may write (RLIMIT_FSIZE)."""
    nproc: int = 32
    """Processes the program's uid may have (RLIMIT_NPROC)."""
    nofile: int = 128
    """Open file descriptors (RLIMIT_NOFILE)."""
    tmpfs_mb: int = 64
    """Size of each private tmpfs (/tmp, /var/tmp, /dev/shm) at the namespaces level."""
    max_output_kb: int = 64
    """stdout and stderr together; more and the program is killed ('output-limit')."""


DEFAULT_LIMITS = SandboxLimits()


@dataclass(frozen=True)
class Isolation:
    """What this host allows; stored with results as provenance."""

    level: str
    """'namespaces' (strong) or 'rlimits' (no namespaces: socket layer blocked by an audit hook)."""
    drop_uid: bool
    """Programs run as a throwaway unprivileged uid (we are root and that works)."""
    warning: str | None = None
    """Why a weaker level is used, or None at full strength."""


@dataclass(frozen=True)
class SandboxResult:
    """How one program ended."""

    passed: bool
    """Exited 0 (and printed the success marker when one was required)."""
    status: Status
    reason: str
    """One line for humans: the exception, the limit hit, the signal."""
    duration_s: float
    isolation: str
    """The isolation level it ran under."""
    stdout: str = ""
    """The first few KB of stdout."""
    stderr: str = ""
    """The last few KB of stderr."""
    warning: str | None = None
    """Set when the run used a weaker isolation level than 'namespaces'."""


_PROBE = """\
import collections, decimal, fractions, hashlib, heapq, itertools, json, math, re, string, typing
import socket
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1).close()
except OSError:
    print("probe-ok")
"""

_uids: queue.SimpleQueue[int] = queue.SimpleQueue()
for _uid in _SANDBOX_UIDS:
    _uids.put(_uid)


def _try(isolation: Isolation) -> SandboxResult:
    return _run(_PROBE, SandboxLimits(wall_s=20), "probe-ok", isolation)


@functools.cache
def available_isolations() -> tuple[Isolation, ...]:
    """Every isolation that works on this host, strongest first (probed once per process)."""
    root = os.geteuid() == 0
    candidates = [Isolation(NAMESPACES, root), Isolation(RLIMITS, root)]
    if root:
        candidates.append(Isolation(RLIMITS, False))
    working: list[Isolation] = []
    why_not: list[str] = []
    for candidate in candidates:
        probe = _try(candidate)
        if not probe.passed:
            why_not.append(f"{candidate.level}{'' if candidate.drop_uid else ' as root'}: "
                           f"{probe.reason}")  # fmt: skip
            continue
        if candidate.level != NAMESPACES:
            weaker = "; ".join(why_not) or "forced"
            warning = f"weaker isolation ({weaker}): network blocked by an audit hook only"
            if root and not candidate.drop_uid:
                warning += ", programs run as root"
            candidate = replace(candidate, warning=warning)
        working.append(candidate)
    if not working:
        raise SandboxUnavailable(
            f"The code sandbox cannot start on this host ({'; '.join(why_not)}); "
            "run code tasks on a Linux host that allows namespaces or setrlimit."
        )
    return tuple(working)


def isolation_level() -> Isolation:
    """The strongest isolation this host supports; its warning says why when it is degraded."""
    return available_isolations()[0]


def run_program(
    source: str,
    limits: SandboxLimits = DEFAULT_LIMITS,
    *,
    success_marker: str | None = None,
    isolation: Isolation | None = None,
) -> SandboxResult:
    """Run Python `source` as __main__ in the sandbox and report how it ended.

    With `success_marker`, exit code 0 passes only when stdout contains the marker: a program that
    calls sys.exit(0) before its checks ran does not pass.
    """
    return _run(source, limits, success_marker, isolation or isolation_level())


def run_programs(
    sources: Sequence[str],
    limits: SandboxLimits = DEFAULT_LIMITS,
    *,
    success_markers: Sequence[str | None] | None = None,
    workers: int | None = None,
    isolation: Isolation | None = None,
) -> list[SandboxResult]:
    """Run many programs, up to `workers` (default: the core count) at once; results in order.

    One program's failure (timeout, crash, anything) never stops the others.
    """
    markers = list(success_markers) if success_markers is not None else [None] * len(sources)
    isolation = isolation or isolation_level()
    workers = max(1, min(workers or os.cpu_count() or 1, len(_SANDBOX_UIDS)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(_run, src, limits, marker, isolation)
            for src, marker in zip(sources, markers, strict=True)
        ]
        return [f.result() for f in futures]


def _scrubbed_env(workdir: str) -> dict[str, str]:
    # Nothing of ours leaks in (API keys live in the environment); -I ignores PYTHON* anyway.
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
    }


def _run(
    source: str, limits: SandboxLimits, marker: str | None, isolation: Isolation
) -> SandboxResult:
    uid = _uids.get() if isolation.drop_uid else None
    workdir = tempfile.mkdtemp(prefix="gapbench-sbx-")
    try:
        Path(workdir, _PROGRAM_NAME).write_text(source, encoding="utf-8")
        if uid is not None:
            os.chown(workdir, uid, uid)
        cfg: dict[str, object] = {"level": isolation.level, "uid": uid, "workdir": workdir,
               "program": _PROGRAM_NAME, "limits": asdict(limits)}  # fmt: skip
        return _execute(cfg, limits, marker, isolation)
    finally:
        try:
            if uid is not None and isolation.level == RLIMITS:
                _kill_uid(uid)  # without a pid namespace, a setsid() daemon escapes the group kill
        finally:
            if uid is not None:
                _uids.put(uid)
            shutil.rmtree(workdir, ignore_errors=True)


def _execute(
    cfg: dict[str, object], limits: SandboxLimits, marker: str | None, isolation: Isolation
) -> SandboxResult:
    start = time.monotonic()
    status_r, status_w = os.pipe()
    cfg["status_fd"] = status_w
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", _LAUNCHER, json.dumps(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(cfg["workdir"]),
            env=_scrubbed_env(str(cfg["workdir"])),
            start_new_session=True,
            pass_fds=(status_w,),
        )
    finally:
        os.close(status_w)
    assert proc.stdout is not None and proc.stderr is not None
    out, err, status = bytearray(), bytearray(), bytearray()
    buffers = {proc.stdout.fileno(): out, proc.stderr.fileno(): err, status_r: status}
    cap = limits.max_output_kb * 1024
    verdict: tuple[Status, str] | None = None
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ)
        deadline = start + limits.wall_s
        while verdict is None and status_r in sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                verdict = ("timeout", f"wall-clock limit of {limits.wall_s:g} s exceeded")
                break
            for key, _ in sel.select(remaining):
                if not _read_into(sel, key.fd, buffers[key.fd]):
                    continue
                if len(out) + len(err) > cap:
                    verdict = ("output-limit", f"more than {limits.max_output_kb} KB of output")
                    break
        _kill_group(proc.pid)
        # Whatever is still buffered in the pipes, bounded by the cap and a short drain.
        drain_until = time.monotonic() + _DRAIN_S
        while sel.get_map() and time.monotonic() < drain_until and len(out) + len(err) <= cap:
            for key, _ in sel.select(drain_until - time.monotonic()):
                _read_into(sel, key.fd, buffers[key.fd])
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    os.close(status_r)
    stdout = out[:_KEEP_OUTPUT].decode("utf-8", "replace")
    stderr = err[-_KEEP_OUTPUT:].decode("utf-8", "replace")
    if verdict is None:
        verdict = _classify(bytes(status), stderr, stdout, marker)
    return SandboxResult(
        passed=verdict[0] == "passed",
        status=verdict[0],
        reason=verdict[1],
        duration_s=time.monotonic() - start,
        isolation=isolation.level,
        stdout=stdout,
        stderr=stderr,
        warning=isolation.warning,
    )


def _read_into(sel: selectors.BaseSelector, fd: int, buffer: bytearray) -> bool:
    data = os.read(fd, 65536)
    if not data:
        sel.unregister(fd)
        return False
    buffer += data
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _kill_uid(uid: int) -> None:
    """Kill every process of a throwaway uid (we are root); repeated, since they may be forking."""
    for _ in range(20):
        victims = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                    victims.append(int(entry))
            except OSError:
                continue
        if not victims:
            return
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _classify(status: bytes, stderr: str, stdout: str, marker: str | None) -> tuple[Status, str]:
    try:
        report = json.loads(status.decode().strip().splitlines()[0])
    except (ValueError, IndexError):
        return "error", "the sandbox ended without a report"
    if "setup_error" in report:
        return "error", f"sandbox setup failed: {report['setup_error']}"
    if "signal" in report:
        sig = int(report["signal"])
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return "timeout", f"killed by {name}: CPU time limit exceeded"
        if sig == signal.SIGXFSZ:
            return "forbidden", "killed by SIGXFSZ: file size limit exceeded"
        return "error", f"crashed with {name}"
    code = int(report["exit"])
    last = _last_line(stderr)
    if code == 0:
        if marker is not None and marker not in stdout:
            return "failed", "exited before its checks finished (no success marker)"
        return "passed", "exit code 0"
    if code == EXIT_MEMORY:
        return "memory", last or "memory limit exceeded"
    if code == EXIT_FORBIDDEN:
        return "forbidden", last or "forbidden operation"
    if code == EXIT_SETUP:
        return "error", f"sandbox setup failed: {last}"
    return "failed", last or f"exit code {code}"
