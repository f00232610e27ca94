"""Run model-written Python where it can harm nothing and decide nothing: the public API.

Model-written code is hostile until proven otherwise. Two rules follow:

- It runs in bubblewrap (sandbox_engine.py): a minimal read-only root, its own pid, network, user,
  ipc and uts namespaces, no capabilities, no_new_privs, sized tmpfs scratch space, resource
  limits, never as root. Where bubblewrap cannot run, code tasks refuse to start unless the user
  passes `--unsafe-sandbox`, and that choice is recorded beside every score it produced.
- It never decides whether it passed. `run_checked` loads the candidate in the sandbox and hands
  the trusted side a proxy for its function; the tests (HumanEval's `check`, our own) run here,
  call the proxy, and compare the plain values it returns (literals.py). Printing a marker,
  exiting 0, forging a status pipe or rebinding `type` inside the sandbox changes nothing here.
  Labels such as 'timeout' come from what the trusted side observed itself (sandbox_session.py).
"""

from __future__ import annotations

import builtins
import errno
import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from gapbench.errors import GapbenchError
from gapbench.scoring import literals
from gapbench.scoring.sandbox_engine import BWRAP, UNSAFE, Isolation
from gapbench.scoring.sandbox_session import Observation, Session, SessionEnded

Status = Literal["passed", "failed", "timeout", "memory", "forbidden", "output-limit", "error"]
__all__ = ["BWRAP", "UNSAFE", "Check", "Isolation", "Job", "SandboxLimits", "SandboxResult",
           "SandboxUnavailable", "allow_unsafe", "isolation_level", "run_checked", "run_jobs",
           "run_program"]  # fmt: skip

# Errors that mean the sandbox said no, rather than the program being wrong.
_FORBIDDEN_ERRNOS = {
    errno.EPERM, errno.EACCES, errno.EAGAIN, errno.EFBIG, errno.EMFILE, errno.ENFILE,
    errno.EROFS, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL,
    errno.ECONNREFUSED, errno.ENOSPC, errno.EDQUOT,
}  # fmt: skip
_PROBE = "import collections, fractions, hashlib, itertools, json, math, re, string, typing\n"


class SandboxUnavailable(GapbenchError):
    """No isolation that meets the bar can run here, and the user did not accept less."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one program."""

    cpu_s: int = 5
    """CPU seconds (RLIMIT_CPU): the kernel kills the program one second past it."""
    wall_s: float = 10.0
    """Wall-clock seconds from start to kill; catches sleeping programs that use no CPU."""
    memory_mb: int = 1024
    """Address space (RLIMIT_AS)."""
    file_size_mb: int = 16
    """Largest file the program may write (RLIMIT_FSIZE)."""
    nproc: int = 32
    """Processes and threads the program may have (RLIMIT_NPROC, counted in its user namespace)."""
    nofile: int = 128
    """Open file descriptors (RLIMIT_NOFILE)."""
    tmpfs_mb: int = 64
    """Size of each scratch tmpfs: the working directory, /tmp and /dev/shm."""
    max_output_kb: int = 64
    """stdout and stderr together; more and the program is killed ('output-limit')."""
    max_reply_kb: int = 1024
    """One value returned to the trusted side; more is 'output-limit' too."""


DEFAULT_LIMITS = SandboxLimits()


@dataclass(frozen=True)
class SandboxResult:
    """How one program ended, as the trusted side saw it."""

    passed: bool
    """run_checked: every test passed. run_program: it ran to the end without an error."""
    status: Status
    reason: str
    """One line for humans: the failed test, the exception, the limit hit."""
    duration_s: float
    isolation: str
    """The isolation level it ran under."""
    stdout: str = ""
    """The first few KB of stdout."""
    stderr: str = ""
    """The last few KB of stderr."""
    warning: str | None = None
    """Set when the program ran without the sandbox (--unsafe-sandbox)."""


@dataclass(frozen=True)
class Check:
    """Trusted tests of a sandboxed function."""

    entry: str
    """The name of the function the program must define."""
    verify: Callable[[Callable[..., Any]], None]
    """Runs here, outside the sandbox, with a proxy for the function: returns when every test
    passed, raises (an AssertionError, say) at the first that did not."""
    describe: Callable[[AssertionError], str] | None = None
    """The reason to give for a failed assertion, when its message alone would not say."""


@dataclass(frozen=True)
class Job:
    source: str
    check: Check | None = None
    """None: run `source` as __main__; it passes when it runs to the end (tests of the sandbox)."""


# --- which isolation --------------------------------------------------------------------

_allow_unsafe = False
_lock = threading.Lock()


def allow_unsafe(enabled: bool = True) -> None:
    """Let code run without bubblewrap where bubblewrap cannot run (the CLI's --unsafe-sandbox)."""
    global _allow_unsafe
    _allow_unsafe = enabled


@functools.cache
def _probe(level: str) -> Isolation | str:
    """The isolation at `level` when a trivial program runs under it here, else why not."""
    from gapbench.scoring import sandbox_engine as engine

    as_root = os.geteuid() == 0
    if level == BWRAP:
        path = engine.bwrap_path()
        if path is None:
            return "bubblewrap (bwrap) is not installed"
        isolation = Isolation(BWRAP, engine.bwrap_version(path), as_root)
    else:
        warning = "no sandbox (--unsafe-sandbox): model code ran with the user's own access"
        isolation = Isolation(UNSAFE, "none", as_root, warning)
    try:
        result = _run(Job(_PROBE), SandboxLimits(wall_s=20), isolation)
    except OSError as exc:
        return f"{level} could not start ({exc})"
    return isolation if result.passed else f"{level} failed here ({result.reason})"


def isolation_level() -> Isolation:
    """bubblewrap when it works here; else the unsafe level if allowed; else SandboxUnavailable
    with one sentence naming what is missing."""
    with _lock:  # one probe, even when many threads ask at once
        strong = _probe(BWRAP)
        if isinstance(strong, Isolation):
            return strong
        if _allow_unsafe:
            weak = _probe(UNSAFE)
            if isinstance(weak, Isolation):
                return weak
            raise SandboxUnavailable(f"Model code cannot run on this host at all: {weak}.")
    raise SandboxUnavailable(
        f"Code tasks run model code in a bubblewrap sandbox, and {strong}: install bubblewrap "
        "(apt-get install bubblewrap, dnf install bubblewrap) and allow unprivileged user "
        "namespaces, or pass --unsafe-sandbox to run model code without isolation."
    )


# --- running ------------------------------------------------------------------------------


def run_program(
    source: str, limits: SandboxLimits = DEFAULT_LIMITS, *, isolation: Isolation | None = None
) -> SandboxResult:
    """Run `source` as __main__ in the sandbox and report how it ended."""
    return _run(Job(source), limits, isolation or isolation_level())


def run_checked(
    source: str,
    check: Check,
    limits: SandboxLimits = DEFAULT_LIMITS,
    *,
    isolation: Isolation | None = None,
) -> SandboxResult:
    """Load `source` in the sandbox and run `check` here against its function."""
    return _run(Job(source, check), limits, isolation or isolation_level())


def run_jobs(
    jobs: Sequence[Job],
    limits: SandboxLimits = DEFAULT_LIMITS,
    *,
    workers: int | None = None,
    isolation: Isolation | None = None,
) -> list[SandboxResult]:
    """Run many jobs, up to `workers` (default: the core count) at once; results in order.
    One job's failure (timeout, crash, anything) never stops the others."""
    if not jobs:
        return []
    isolation = isolation or isolation_level()
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: _run(job, limits, isolation), jobs))


def _run(job: Job, limits: SandboxLimits, isolation: Isolation) -> SandboxResult:
    failure: BaseException | None = None
    outcome: dict[str, Any] = {}
    with Session(isolation, limits) as session:
        try:
            session.hello()
            if job.check is None:
                outcome = session.exchange({"op": "run", "source": job.source}).get("done", {})
            else:
                loaded = session.exchange(
                    {"op": "load", "source": job.source, "entry": job.check.entry}
                )
                if "error" in loaded:
                    raise _raised(loaded["error"])
                job.check.verify(_Candidate(session, job.check.entry))
        except BaseException as exc:  # the verdict needs whatever stopped the run, of any kind
            if isinstance(exc, KeyboardInterrupt):
                raise
            failure = exc
    observed = session.observe()
    status, reason = _verdict(job, outcome, failure, observed, limits)
    return SandboxResult(
        passed=status == "passed",
        status=status,
        reason=reason,
        duration_s=observed.duration_s,
        isolation=isolation.level,
        stdout=observed.stdout,
        stderr=observed.stderr,
        warning=isolation.warning,
    )


class _Candidate:
    """The sandboxed function as the trusted tests see it: arguments go in, plain values or
    exceptions of builtin types come out."""

    def __init__(self, session: Session, name: str) -> None:
        self._session, self.__name__ = session, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = {"op": "call", "args": literals.encode_value(list(args)),
                   "kwargs": literals.encode_value(kwargs)}  # fmt: skip
        reply = self._session.exchange(request)
        if "value" in reply:
            try:
                return literals.decode_value(reply["value"])
            except literals.LiteralError as exc:
                raise CandidateError("UnsupportedValue", str(exc)) from None
        raise _raised(reply.get("error") or {})


class CandidateError(Exception):
    """An exception the sandboxed function raised that is not mirrored by a builtin type."""

    def __init__(self, type_name: str, message: str, code: int | None = None) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name, self.errno = type_name, code


def _raised(error: dict[str, Any]) -> Exception:
    """The program's exception, as a builtin exception of the same type where there is one (so a
    test's `except ValueError` still works), else CandidateError. Never the program's own class,
    and never a MemoryError or an exit in the trusted process."""
    name, message = str(error.get("type", "Error")), str(error.get("message", ""))
    code = error.get("errno") if isinstance(error.get("errno"), int) else None
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception) and builtin is not MemoryError:
        try:
            exc: Exception = builtin(code, message) if code is not None else builtin(message)
        except Exception:
            exc = CandidateError(name, message, code)
    else:
        exc = CandidateError(name, message, code)
    exc.sandboxed = (name, message, code)  # type: ignore[attr-defined]
    return exc


def _verdict(
    job: Job,
    outcome: dict[str, Any],
    failure: BaseException | None,
    seen: Observation,
    limits: SandboxLimits,
) -> tuple[Status, str]:
    if not seen.started:
        return "error", f"sandbox setup failed: {_last_line(seen.stderr) or seen.exit_status}"
    if seen.timed_out:
        return "timeout", f"wall-clock limit of {limits.wall_s:g} s exceeded"
    if seen.output_exceeded:
        return "output-limit", f"more than {limits.max_output_kb} KB of output"
    if seen.reply_exceeded:
        return "output-limit", f"a returned value of more than {limits.max_reply_kb} KB"
    if isinstance(failure, SessionEnded) or (job.check is None and not outcome):
        if seen.cpu_s >= limits.cpu_s:
            return "timeout", f"CPU time limit of {limits.cpu_s} s exceeded"
        return "failed", f"the program ended without answering (exit status {seen.exit_status})"
    if failure is None:
        if job.check is not None:
            return "passed", "every test passed"
        if "error" in outcome:
            return _error_status(outcome["error"])
        code, message = outcome.get("exit", 1), outcome.get("message")
        if code == 0:
            return "passed", "ran to the end"
        return "failed", f"exited with code {code}" + (f": {message}" if message else "")
    sandboxed = getattr(failure, "sandboxed", None)
    if sandboxed is not None:
        name, message, code = sandboxed
        return _error_status({"type": name, "message": message, "errno": code})
    if isinstance(failure, AssertionError) and job.check is not None:
        describe = job.check.describe
        text = describe(failure) if describe else ""
        return "failed", text or (f"AssertionError: {failure}" if str(failure) else "a test failed")
    return "failed", f"{type(failure).__name__}: {failure}"[:300]


def _error_status(error: dict[str, Any]) -> tuple[Status, str]:
    name, message = str(error.get("type", "Error")), str(error.get("message", ""))
    reason = f"{name}: {message}"[:300] if message else name
    if name == "MemoryError":
        return "memory", reason
    if name == "PermissionError" or error.get("errno") in _FORBIDDEN_ERRNOS:
        return "forbidden", reason
    return "failed", reason


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
