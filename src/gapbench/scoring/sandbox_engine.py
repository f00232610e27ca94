"""How a sandboxed interpreter is started on this host: bubblewrap, or nothing (`--unsafe-sandbox`).

bubblewrap (`bwrap`, the sandbox Flatpak is built on, packaged by every distribution) does what
the sandbox needs and we would otherwise write by hand: a pivot_root into a fresh tmpfs holding
only read-only binds of /usr and the Python install, a private /proc of its own pid namespace,
sized tmpfs for /tmp, /dev/shm and the working directory, new user, network, ipc, uts and cgroup
namespaces, no capabilities (bounding set included), no_new_privs, and no nested user namespaces.
The program is pid 1 of its namespace (`--as-pid-1`), so no helper process shares its uid inside
the sandbox for it to ptrace, and when it exits the kernel kills whatever it left behind.

As root, the program must not run as root: sandbox_launcher.py drops to a throwaway uid first,
one per concurrent program and host-wide distinct (flock'ed slots), so RLIMIT_NPROC and the
files of one program are never another's.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapbench.scoring import sandbox_stub

BWRAP = "bubblewrap"
UNSAFE = "unsafe"
WORKDIR = "/sandbox"
"""The program's working directory inside bubblewrap: a sized tmpfs, its HOME too."""
_MIB = 1 << 20
_UID_BASE = 2_000_000_000
_UID_SLOTS = 4096
"""Throwaway uids 2,000,000,000-2,000,004,095: far above any distribution's ranges for users,
system services and systemd's dynamic users, and owning no file on the host."""
_LAUNCHER = str(Path(__file__).with_name("sandbox_launcher.py"))
_SOURCES = (Path(__file__).with_name("literals.py"), Path(__file__).with_name("sandbox_stub.py"))


@dataclass(frozen=True)
class Isolation:
    """How programs run on this host; stored with every run as provenance."""

    level: str
    """'bubblewrap' (meets the bar: see the module doc) or 'unsafe' (the user's explicit choice)."""
    engine: str
    """What does the isolating, with its version: 'bubblewrap 0.8.0', or 'none'."""
    as_root: bool = False
    """gapbench runs as root, so each program runs as a throwaway uid."""
    warning: str | None = None
    """Why the isolation is weaker than the bar, or None."""


class Launch:
    """A command that starts the stub, and what to undo once it has ended."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        uid: int | None = None,
        uid_lock: int | None = None,
        host_workdir: str | None = None,
    ) -> None:
        self.argv, self.env, self.uid = argv, env, uid
        self._uid_lock, self._host_workdir = uid_lock, host_workdir

    def cleanup(self) -> None:
        try:
            if self.uid is not None:
                kill_uid(self.uid)  # nothing of a throwaway uid may outlive its program
        finally:
            if self._host_workdir is not None:
                shutil.rmtree(self._host_workdir, ignore_errors=True)
            if self._uid_lock is not None:
                os.close(self._uid_lock)  # releases the slot for any process on the host


def interpreter() -> str:
    """The base interpreter (not a venv's wrapper): with -I -S it needs only its own install."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


@functools.cache
def python_paths() -> tuple[str, ...]:
    """Directories of the Python install the sandbox must see, outside /usr (bound anyway)."""
    wanted = (os.path.dirname(interpreter()), sys.base_prefix, sys.base_exec_prefix)
    candidates = {os.path.realpath(p) for p in wanted}
    kept: list[str] = []
    for path in sorted(candidates, key=len):  # a folder before anything inside it
        if not path.startswith("/usr/") and not any(path.startswith(k + "/") for k in kept):
            kept.append(path)
    return tuple(kept)


@functools.cache
def _hidden_site_packages() -> tuple[str, ...]:
    """Installed packages (gapbench's own dependencies among them) stay out of sight."""
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    found = {os.path.realpath(paths[key]) for key in ("purelib", "platlib")}
    found |= {p for p in ("/usr/lib/python3/dist-packages",) if os.path.isdir(p)}
    return tuple(sorted(p for p in found if os.path.isdir(p)))


@functools.cache
def stub_command() -> tuple[str, ...]:
    """The interpreter, its isolation flags and the stub; the configuration is appended."""
    sources = [p.read_text(encoding="utf-8") for p in _SOURCES]
    return (interpreter(), "-I", "-S", "-u", "-c", sandbox_stub.BOOTSTRAP, *sources)


def inside_env(home: str) -> dict[str, str]:
    # Nothing of ours leaks in: API keys live in the environment.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": home, "TMPDIR": "/tmp" if home == WORKDIR else home}  # fmt: skip


BWRAP_ENV = "GAPBENCH_BWRAP"
"""The bubblewrap executable to use, where it is not on PATH (an empty value: none)."""


def bwrap_path() -> str | None:
    if BWRAP_ENV in os.environ:
        chosen = os.environ[BWRAP_ENV]
        return chosen if chosen and os.access(chosen, os.X_OK) else None
    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(p, os.X_OK)), None
    )


@functools.cache
def bwrap_version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return BWRAP
    return out.stdout.strip() or BWRAP


def bwrap_argv(bwrap: str, tmpfs_mb: int, stub: list[str]) -> list[str]:
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--as-pid-1", "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr"]  # fmt: skip
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in python_paths():
        args += ["--ro-bind", path, path]
    for path in _hidden_site_packages():
        args += ["--tmpfs", path, "--remount-ro", path]
    size = str(tmpfs_mb * _MIB)
    args += ["--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev", "--size", size, "--tmpfs", "/tmp", "--size", size,
             "--tmpfs", WORKDIR, "--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]  # fmt: skip
    for name, value in inside_env(WORKDIR).items():
        args += ["--setenv", name, value]
    return args + stub


def launch(isolation: Isolation, stub_config: dict[str, Any], tmpfs_mb: int) -> Launch:
    """The command for one program under `isolation`; the caller runs it and then cleanup()."""
    as_root = os.geteuid() == 0
    uid, lock = _acquire_uid() if as_root else (None, None)
    try:
        if isolation.level == BWRAP:
            bwrap = bwrap_path() or "bwrap"
            stub = [*stub_command(), json.dumps(stub_config)]
            argv, cwd, workdir = bwrap_argv(bwrap, tmpfs_mb, stub), None, None
            host_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
            mode = "exec"
        else:
            workdir = tempfile.mkdtemp(prefix="gapbench-sbx-")
            if uid is not None:
                os.chown(workdir, uid, uid)
            config = {**stub_config, "extra_processes": 0 if as_root else _own_processes()}
            argv, cwd = [*stub_command(), json.dumps(config)], workdir
            host_env, mode = inside_env(workdir), "supervise"
        if as_root or mode == "supervise":
            # The launcher drops root (and, unsafe, supervises); it needs root's reach to start.
            launcher = {"mode": mode, "uid": uid, "argv": argv, "env": host_env, "workdir": cwd,
                        "expose": list(python_paths()) if uid is not None else []}  # fmt: skip
            argv = [interpreter(), "-I", "-S", _LAUNCHER, json.dumps(launcher)]
        return Launch(argv, host_env, uid, lock, workdir)
    except BaseException:
        if lock is not None:
            os.close(lock)
        raise


def _uid_lock_dir() -> Path:
    """A root-owned directory nobody else can write, for the host-wide uid slot locks."""
    for base in ("/run", tempfile.gettempdir()):
        path = Path(base, "gapbench-sandbox-uids")
        try:
            path.mkdir(mode=0o700, exist_ok=True)
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o077:
            return path
    raise OSError("no root-owned directory for the sandbox's uid locks in /run or the temp dir")


def _acquire_uid() -> tuple[int, int]:
    """A throwaway uid no other program on this host is using now, and the lock that holds it.

    Slots are tried from a random start, so concurrent gapbench processes rarely even contend;
    flock is per open file, so threads of one process exclude each other too, and the kernel
    releases a dead process's slots."""
    folder = _uid_lock_dir()
    start = random.randrange(_UID_SLOTS)
    for step in range(_UID_SLOTS):
        slot = (start + step) % _UID_SLOTS
        fd = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return _UID_BASE + slot, fd
    raise OSError(f"all {_UID_SLOTS} sandbox uids are in use")


def kill_uid(uid: int) -> None:
    """Kill every process of a throwaway uid (we are root); repeated, since they may fork."""
    import signal
    import time

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


def _own_processes() -> int:
    """Processes of our uid now: without a user namespace RLIMIT_NPROC counts them all."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        try:
            count += entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid
        except OSError:
            continue
    return count
