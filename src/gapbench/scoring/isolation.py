"""The sandbox launcher, run inside the sandboxed tree as `python -I -S isolation.py CONFIG`.

It must work as a standalone script (stdlib only, no gapbench imports) because `-I` keeps the
package off sys.path. sandbox.py starts it in a new session; from there:

    S (launcher) --unshare(net, pid, mount, ipc, uts)--> fork
      I (pid 1 of the new pid namespace): private /proc, tmpfs over /tmp, /var/tmp, /dev/shm,
        a re-exposed Python prefix when it lives under a 0700 directory such as /root; fork
        P (the program): rlimits, no_new_privs, an unprivileged uid when we are root, then the code.

When I exits the kernel kills everything left in its pid namespace, so daemons that left the process
group die with it. I reports P's fate as one JSON line on the status pipe (P closes its copy first,
so the program cannot forge it). Levels:

- `namespaces`: the above. As root the program runs as a throwaway uid (RLIMIT_NPROC is ignored for
  root); as a normal user a user namespace provides the other namespaces.
- `rlimits`: no namespace could be created. An audit hook refuses sockets, new processes, signals
  and ctypes (a tripwire, not a security boundary), and I, a child subreaper, kills any orphans.
  As root, a throwaway uid is still used when the stdlib is readable by it; when it is not (pyenv
  under /root) the program runs as root, with only the hook between it and the host's files.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import resource
import runpy
import signal
import stat
import sys
import traceback
from typing import Any

NAMESPACES = "namespaces"
RLIMITS = "rlimits"
LEVELS = (NAMESPACES, RLIMITS)
"""Isolation levels, strongest first."""

EXIT_MEMORY = 121
EXIT_FORBIDDEN = 122
EXIT_SETUP = 123

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER, _PR_SET_NO_NEW_PRIVS = 1, 36, 38

# Errors that mean the sandbox said no, rather than the program being wrong.
_FORBIDDEN_ERRNOS = {
    errno.EPERM, errno.EACCES, errno.EAGAIN, errno.EFBIG, errno.EMFILE, errno.ENFILE,
    errno.EROFS, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL,
    errno.ECONNREFUSED, errno.ENOSPC, errno.EDQUOT,
}  # fmt: skip
# At the `rlimits` level nothing else stops these, so the audit hook refuses them. ctypes is refused
# because it could call libc directly and bypass the hook; processes because children could too.
_BLOCKED_EVENTS = (
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "subprocess.Popen",
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "pty.spawn", "os.kill",
    "os.killpg", "signal.pthread_kill", "ctypes.",
)  # fmt: skip

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype)]
    _check(_libc.mount(enc[0], enc[1], enc[2], flags, data.encode() or None), f"mount {target}")


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, value, 0, 0, 0), f"prctl {option}")


def enter_namespaces() -> None:
    """New net, pid, mount, ipc and uts namespaces; for a normal user, inside a user namespace."""
    flags = _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWUTS
    if os.geteuid() == 0:
        _check(_libc.unshare(flags), "unshare")
        return
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(flags | _CLONE_NEWUSER), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _blocking_parents(paths: list[str]) -> dict[str, set[str]]:
    """{dir that others cannot enter: {child on the way to a path we need}} for root-only dirs
    such as /root, where pyenv installs Python; an unprivileged uid could not import the stdlib."""
    blocked: dict[str, set[str]] = {}
    for path in paths:
        parts = os.path.realpath(path).strip("/").split("/")
        for depth in range(len(parts) - 1):
            parent = "/" + "/".join(parts[: depth + 1])
            try:
                mode = os.stat(parent).st_mode
            except OSError:
                break
            if not mode & stat.S_IXOTH:
                blocked.setdefault(parent, set()).add(parts[depth + 1])
                break
    return blocked


def expose_python() -> None:
    """Cover each root-only directory on the way to Python with an empty tmpfs and bind the needed
    child back read-only, so the program can import the stdlib but sees nothing else there."""
    needed = [sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))]
    needed += [p for p in sys.path if p and os.path.isdir(p)]
    for parent, children in _blocking_parents(needed).items():
        handles = {c: os.open(os.path.join(parent, c), os.O_PATH) for c in children}
        _mount("tmpfs", parent, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
        for child, fd in handles.items():
            target = os.path.join(parent, child)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.mkdir(target)
            else:
                open(target, "w").close()
            _mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC)
            _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID)
            os.close(fd)


def prepare_mounts(cfg: dict[str, Any], program_bytes: bytes) -> None:
    """Private mounts for pid 1 of the new namespaces; the workdir is recreated when covered."""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    if cfg["uid"] is not None:
        expose_python()
    size = f"size={cfg['limits']['tmpfs_mb']}m"
    for scratch in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(scratch) and not os.path.islink(scratch):
            _mount("tmpfs", scratch, "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode=1777,{size}")
    os.makedirs(cfg["workdir"], exist_ok=True)
    program = os.path.join(cfg["workdir"], cfg["program"])
    if not os.path.exists(program):
        with open(program, "wb") as f:
            f.write(program_bytes)
    if cfg["uid"] is not None:
        os.chown(cfg["workdir"], cfg["uid"], cfg["uid"])


def _user_process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        try:
            count += entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid
        except OSError:
            continue
    return count


def _apply_limits(cfg: dict[str, Any]) -> None:
    lim = cfg["limits"]
    mib = 1024 * 1024
    nproc = lim["nproc"]
    if cfg["uid"] is None and os.getuid() != 0:
        nproc += _user_process_count()  # RLIMIT_NPROC counts every process of the user
    for which, value in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_CPU, lim["cpu_s"]),
        (resource.RLIMIT_AS, lim["memory_mb"] * mib),
        (resource.RLIMIT_FSIZE, lim["file_size_mb"] * mib),
        (resource.RLIMIT_NOFILE, lim["nofile"]),
        (resource.RLIMIT_NPROC, nproc),
    ):
        # The CPU hard limit sits one second above the soft one: SIGXCPU first, SIGKILL after.
        hard = value + 1 if which == resource.RLIMIT_CPU else value
        resource.setrlimit(which, (value, hard))


def _audit_hook(event: str, _args: tuple[object, ...]) -> None:
    if event.startswith(_BLOCKED_EVENTS):
        raise PermissionError(f"{event} is disabled in the sandbox")


def _is_forbidden(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and (
        isinstance(exc, PermissionError) or exc.errno in _FORBIDDEN_ERRNOS
    )


def become_program(cfg: dict[str, Any]) -> None:
    """P: limits, privileges dropped, then the program. Never returns."""
    try:
        os.chdir(cfg["workdir"])
        _apply_limits(cfg)
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        uid = cfg["uid"]
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        if cfg["level"] == RLIMITS:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            sys.addaudithook(_audit_hook)
    except BaseException:
        traceback.print_exc()
        os._exit(EXIT_SETUP)
    sys.argv = [cfg["program"]]
    try:
        runpy.run_path(cfg["program"], run_name="__main__")
    except SystemExit:
        raise
    except BaseException as exc:
        code = EXIT_MEMORY if isinstance(exc, MemoryError) else 1
        code = EXIT_FORBIDDEN if _is_forbidden(exc) else code
        try:
            traceback.print_exc()
            sys.stdout.flush()
        finally:
            os._exit(code)
    sys.exit(0)


def _kill_orphans() -> None:
    """We are a child subreaper, so the program's orphans are our children: kill them all."""
    me = str(os.getpid())
    for _ in range(50):
        found = False
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = f.read().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            if ppid == me:
                found = True
                with contextlib.suppress(OSError):
                    os.kill(int(entry), signal.SIGKILL)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        if not found:
            return


def supervise(cfg: dict[str, Any], status_fd: int) -> None:
    """I: run P, report how it ended. Never returns."""
    pid = os.fork()
    if pid == 0:
        os.close(status_fd)
        become_program(cfg)
    while True:
        done, wait_status = os.waitpid(-1, 0)  # as pid 1 we also reap the program's orphans
        if done == pid:
            break
    if cfg["level"] == RLIMITS:
        _kill_orphans()
    if os.WIFSIGNALED(wait_status):
        report: dict[str, object] = {"signal": os.WTERMSIG(wait_status)}
    else:
        report = {"exit": os.WEXITSTATUS(wait_status)}
    os.write(status_fd, json.dumps(report).encode() + b"\n")
    os._exit(0)


def main() -> None:
    """Entry point of the launcher; the config is one JSON argument written by sandbox.py."""
    cfg = json.loads(sys.argv[1])
    status_fd = cfg["status_fd"]
    try:
        if cfg["level"] == NAMESPACES:
            with open(os.path.join(cfg["workdir"], cfg["program"]), "rb") as f:
                program_bytes = f.read()
            enter_namespaces()
            child = os.fork()
            if child:
                os.close(status_fd)
                os.waitpid(child, 0)
                os._exit(0)
            prepare_mounts(cfg, program_bytes)
        else:
            _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    except OSError as exc:
        os.write(status_fd, json.dumps({"setup_error": str(exc)}).encode() + b"\n")
        os._exit(EXIT_SETUP)
    supervise(cfg, status_fd)


if __name__ == "__main__":
    main()
