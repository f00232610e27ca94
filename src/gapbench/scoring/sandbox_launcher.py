"""What runs between gapbench and the sandboxed interpreter when root must give up root first.

Started as `python -I -S sandbox_launcher.py CONFIG` (standard library only: `-I` keeps gapbench
off the path). Two modes:

- `exec` (bubblewrap as root): bubblewrap is not installed setuid here, so run by root it would
  map the program to real uid 0, which RLIMIT_NPROC ignores and which owns the host's files.
  The launcher therefore takes a private mount namespace, makes the Python install reachable for
  an unprivileged uid when it sits under a root-only directory such as /root (pyenv's home), drops
  to a throwaway uid, and execs bubblewrap, which then builds its user namespace exactly as it
  does for any ordinary user.
- `supervise` (`--unsafe-sandbox`, no bubblewrap): the same uid drop (never root), then the
  program runs as our child while we are its child subreaper, so the orphans it leaves behind
  (a double-forked daemon) are ours to kill when it ends. No namespaces: no isolation to speak of.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import stat
import sys

_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV = 1, 2, 4
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36
EXIT_LAUNCH_FAILED = 125
"""The launcher's own failure; the program never ran, so it cannot have chosen this code."""

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype)]
    _check(_libc.mount(enc[0], enc[1], enc[2], flags, data.encode() or None), f"mount {target}")


def blocking_parents(paths: list[str]) -> dict[str, set[str]]:
    """{directory others cannot enter: {its children on the way to `paths`}}: the first such
    directory on each path, e.g. {'/root': {'.pyenv'}}."""
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


def expose(paths: list[str]) -> None:
    """In a private mount namespace, cover each root-only directory on the way to `paths` with an
    empty tmpfs and bind the needed children back read-only: an unprivileged uid can then reach
    the Python install, and nothing else that directory holds."""
    blocked = blocking_parents(paths)
    if not blocked:
        return
    _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    for parent, children in blocked.items():
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


def drop_to(uid: int) -> None:
    """Become `uid` for good: no supplementary groups, real, effective and saved ids all set, so
    no capability survives (the kernel clears them on the change away from uid 0)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if 0 in os.getresuid() or 0 in os.getresgid():
        raise OSError(f"still root after dropping to uid {uid}")


def _kill_orphans() -> None:
    """As a child subreaper we inherit the program's orphans: kill them until none is left."""
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
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        if not found:
            return


def supervise(argv: list[str], env: dict[str, str]) -> int:
    """Run the program as our child; return its exit status the way a shell reports it."""
    _check(_libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")
    pid = os.fork()
    if pid == 0:
        try:
            _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
            os.execve(argv[0], argv, env)
        finally:
            os._exit(EXIT_LAUNCH_FAILED)
    while True:
        done, status = os.waitpid(-1, 0)
        if done == pid:
            break
    _kill_orphans()
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def main() -> None:
    config = json.loads(sys.argv[1])
    try:
        expose(config["expose"])
        if config["uid"] is not None:
            drop_to(config["uid"])
        if config["workdir"]:
            os.chdir(config["workdir"])
        if config["mode"] == "exec":
            os.execve(config["argv"][0], config["argv"], config["env"])
    except OSError as exc:
        print(f"gapbench sandbox launcher: {exc}", file=sys.stderr)
        os._exit(EXIT_LAUNCH_FAILED)
    os._exit(supervise(config["argv"], config["env"]))


if __name__ == "__main__":
    main()
