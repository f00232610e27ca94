"""One sandboxed interpreter, seen from the trusted side: start it, exchange messages, end it.

Everything the trusted side later says about the program comes from what it observed here
itself: the wall clock it enforced, the bytes it counted, the CPU time the kernel accounted for
the process tree (wait4), and the replies it read, never an exit code or a marker the program
could have chosen.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from gapbench.scoring import literals, sandbox_engine
from gapbench.scoring.sandbox_engine import Isolation

_KEEP_OUTPUT = 4096
_GRACE_S = 1.0
"""How long a program that was told to stop may take to exit (and flush) before it is killed."""


class SessionEnded(BaseException):
    """The program is gone or a limit stopped it. A BaseException so that a test's own
    `except Exception:` cannot swallow it and go on to pass."""


@dataclass(frozen=True)
class Observation:
    """What the trusted side saw of one program, for the verdict's label."""

    started: bool
    """The stub reported in before any program code ran: the sandbox itself came up."""
    timed_out: bool
    output_exceeded: bool
    """stdout and stderr together passed the cap."""
    reply_exceeded: bool
    """One reply (a returned value) passed the cap."""
    cpu_s: float
    """User + system CPU seconds of the process tree the kernel reported when it was reaped."""
    exit_status: int | None
    """Of our direct child (bubblewrap or the launcher), shell-style: code, or 128 + signal."""
    duration_s: float
    stdout: str
    """The first few KB."""
    stderr: str
    """The last few KB."""


class Session:
    """A running stub. Use as a context manager; `observe()` after it is closed."""

    def __init__(self, isolation: Isolation, limits: Any) -> None:
        self._limits = limits
        self._start = time.monotonic()
        self._deadline = self._start + limits.wall_s
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        names = ("cpu_s", "memory_mb", "file_size_mb", "nofile", "nproc")
        config = {"request_fd": request_r, "reply_fd": reply_w,
                  "limits": {name: getattr(limits, name) for name in names}}  # fmt: skip
        self._launch = sandbox_engine.launch(isolation, config, limits.tmpfs_mb)
        try:
            self._proc = subprocess.Popen(
                self._launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._launch.env,
                start_new_session=True,
                pass_fds=(request_r, reply_w),
            )
        except BaseException:
            for fd in (request_r, request_w, reply_r, reply_w):
                os.close(fd)
            self._launch.cleanup()
            raise
        finally:
            with contextlib.suppress(OSError):
                os.close(request_r)
                os.close(reply_w)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._request: int | None = request_w
        os.set_blocking(request_w, False)
        self._pending = b""
        self._out, self._err, self._reply = bytearray(), bytearray(), bytearray()
        self._out_total = self._err_total = 0
        self._buffers = {self._proc.stdout.fileno(): self._out,
                         self._proc.stderr.fileno(): self._err, reply_r: self._reply}  # fmt: skip
        self._reply_fd = reply_r
        self._sel = selectors.DefaultSelector()
        for fd in self._buffers:
            self._sel.register(fd, selectors.EVENT_READ)
        self.timed_out = self.output_exceeded = self.reply_exceeded = self.started = False
        self._observation: Observation | None = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Messages

    def hello(self) -> None:
        """Wait for the stub to report in; SessionEnded when the sandbox never came up."""
        message = self._receive()
        self.started = message.get("hello") == 1
        if not self.started:
            raise SessionEnded("the stub did not report in")

    def exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its reply; SessionEnded when none can come."""
        try:
            self._pending += literals.dumps(message)
        except ValueError as exc:  # an argument past json's limits: not the program's doing
            raise ValueError(f"cannot send this request to the sandbox: {exc}") from None
        if self._request is not None:
            self._sel.register(self._request, selectors.EVENT_WRITE)
        return self._receive()

    def _receive(self) -> dict[str, Any]:
        while True:
            newline = self._reply.find(b"\n")
            if newline >= 0:
                line = bytes(self._reply[:newline])
                del self._reply[: newline + 1]
                try:
                    return literals.loads(line)
                except literals.LiteralError:
                    return {"error": {"type": "ProtocolError", "message": "an unreadable reply"}}
            if self._reply_fd not in self._sel.get_map():
                raise SessionEnded("the program ended")
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                raise SessionEnded("wall clock")
            for key, events in self._sel.select(remaining):
                if events & selectors.EVENT_WRITE:
                    self._write_pending(key.fd)
                else:
                    self._read(key.fd)

    def _write_pending(self, fd: int) -> None:
        try:
            written = os.write(fd, self._pending)
        except BlockingIOError:
            return
        except BrokenPipeError:
            written = len(self._pending)  # the stub is gone; its missing reply will say so
        self._pending = self._pending[written:]
        if not self._pending:
            self._sel.unregister(fd)

    def _read(self, fd: int) -> None:
        data = os.read(fd, 65536)
        if not data:
            self._sel.unregister(fd)
            return
        buffer = self._buffers[fd]
        if fd == self._reply_fd:
            buffer += data
            if len(buffer) > self._limits.max_reply_kb * 1024:
                self.reply_exceeded = True
                raise SessionEnded("reply too large")
            return
        if buffer is self._err:  # the end of stderr holds the traceback
            self._err_total += len(data)
            buffer += data
            del buffer[: max(0, len(buffer) - _KEEP_OUTPUT)]
        else:
            self._out_total += len(data)
            buffer += data[: max(0, _KEEP_OUTPUT - len(buffer))]
        if self._out_total + self._err_total > self._limits.max_output_kb * 1024:
            self.output_exceeded = True
            raise SessionEnded("output cap")

    # The end

    def close(self) -> None:
        """Tell the stub to stop, give it a moment to exit on its own, then kill what is left;
        reap it (the CPU time comes from here) and undo the launch."""
        if self._observation is not None:
            return
        if self._request is not None:
            if self._request in self._sel.get_map():
                self._sel.unregister(self._request)
            os.close(self._request)
            self._request = None
        status = None
        until = time.monotonic() + _GRACE_S
        limits_hit = self.timed_out or self.output_exceeded or self.reply_exceeded
        with contextlib.suppress(SessionEnded):
            while not limits_hit and time.monotonic() < until:
                status = status or self._reap(os.WNOHANG)
                streams = [fd for fd in self._sel.get_map() if fd != self._reply_fd]
                if status is not None and not streams:
                    break
                for key, _ in self._sel.select(max(0.0, min(0.05, until - time.monotonic()))):
                    self._read(key.fd)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        if status is None:
            status = self._reap(0)
        assert status is not None
        code, cpu_s = status
        for fd in list(self._sel.get_map()):
            self._sel.unregister(fd)
        self._sel.close()
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._proc.stdout.close()
        self._proc.stderr.close()
        os.close(self._reply_fd)
        self._launch.cleanup()
        self._observation = Observation(
            started=self.started,
            timed_out=self.timed_out,
            output_exceeded=self.output_exceeded,
            reply_exceeded=self.reply_exceeded,
            cpu_s=cpu_s,
            exit_status=code,
            duration_s=time.monotonic() - self._start,
            stdout=bytes(self._out).decode("utf-8", "replace"),
            stderr=bytes(self._err).decode("utf-8", "replace"),
        )

    def _reap(self, flags: int) -> tuple[int, float] | None:
        pid, status, usage = os.wait4(self._proc.pid, flags)
        if pid == 0:
            return None
        self._proc.returncode = status  # reaped here, so Popen must not wait for it again
        code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return code, usage.ru_utime + usage.ru_stime

    def observe(self) -> Observation:
        self.close()
        assert self._observation is not None
        return self._observation
