"""The sandbox's inside: serves the trusted side's requests from within the sandboxed interpreter.

It runs as `python -I -S -u -c BOOTSTRAP ...` (see sandbox_engine.py), with the literals codec
passed in as a module, because `-I -S` keeps gapbench itself off the path: standard library only.
The protocol is one JSON line per message, requests on one pipe and replies on another, so that
whatever the program prints on stdout and stderr is only ever output, never a verdict:

    stub -> {"hello": 1}                                   (before any program code runs)
    -> {"op": "run", "source": S}     <- {"done": OUTCOME}  (run S as __main__, then exit)
    -> {"op": "load", "source": S, "entry": NAME}  <- {"ok": true} | {"error": ERROR}
    -> {"op": "call", "args": [...], "kwargs": {...}}  <- {"value": V} | {"error": ERROR}

Nothing here is trusted: the program runs in this same process and can rewrite the stub, read
the request pipe or write any reply. That is why the reply carries only what the program could
have said anyway (values it returns, exceptions it raises), and why every verdict is taken on
the other side of the wall: the trusted side runs the tests and compares the values itself.
"""

from __future__ import annotations

import builtins
import contextlib
import linecache
import os
import resource
import sys
import traceback
from types import ModuleType
from typing import Any, NoReturn

_RLIMITS = (
    ("core", resource.RLIMIT_CORE),
    ("cpu_s", resource.RLIMIT_CPU),
    ("memory_mb", resource.RLIMIT_AS),
    ("file_size_mb", resource.RLIMIT_FSIZE),
    ("nofile", resource.RLIMIT_NOFILE),
    ("nproc", resource.RLIMIT_NPROC),
)
_MIB = 1 << 20


def _apply_limits(limits: dict[str, int], extra_processes: int) -> None:
    """Soft = hard, so the program cannot raise them again (it has no CAP_SYS_RESOURCE); the CPU
    hard limit sits one second higher, so SIGXCPU comes first and SIGKILL after."""
    for key, which in _RLIMITS:
        value = 0 if key == "core" else limits[key]
        if key.endswith("_mb"):
            value *= _MIB
        if key == "nproc":
            # Inside the sandbox's own user namespace the count starts at zero; without one it
            # counts every process of the user, so the caller says how many there already are.
            value += extra_processes
        hard = value + 1 if key == "cpu_s" else value
        resource.setrlimit(which, (value, hard))


def _error(exc: BaseException) -> dict[str, Any]:
    try:
        message = str(exc)[:500]
    except BaseException:  # a program-defined __str__ may raise anything
        message = "<unprintable>"
    error: dict[str, Any] = {"type": type(exc).__name__, "message": message}
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        error["errno"] = exc.errno
    with contextlib.suppress(BaseException):  # the program may have broken stderr
        traceback.print_exception(exc)  # for the person reading the sample's stderr
    return error


def _exit_outcome(exc: SystemExit) -> dict[str, Any]:
    code = exc.code
    if code is None or isinstance(code, int):
        return {"exit": code or 0}
    try:  # sys.exit("message"): exit code 1, the message on stderr, as Python itself does
        message = str(code)[:300]
        print(message, file=sys.stderr)
    except BaseException:
        message = "<unprintable>"
    return {"exit": 1, "message": message}


def _execute(source: str, name: str) -> dict[str, Any]:
    # Tracebacks in the stored stderr then show the program's own lines, not just their numbers.
    linecache.cache["program.py"] = (len(source), None, source.splitlines(True), "program.py")
    namespace: dict[str, Any] = {"__name__": name, "__builtins__": builtins}
    if name == "__main__":
        namespace["__file__"] = "program.py"
    exec(compile(source, "program.py", "exec"), namespace)
    return namespace


def serve(codec: ModuleType, config: dict[str, Any]) -> NoReturn:
    """Apply the limits, say hello, then answer requests until the request pipe closes."""
    _apply_limits(config["limits"], config.get("extra_processes", 0))
    write, reply_fd = os.write, config["reply_fd"]
    requests = os.fdopen(config["request_fd"], "rb")

    def reply(message: dict[str, Any]) -> None:
        try:
            data = codec.dumps(message)
        except ValueError as exc:  # an int past 4300 digits, a surrogate in a str
            data = codec.dumps({"error": {"type": "UnsupportedValue", "message": str(exc)[:300]}})
        view = memoryview(data)
        while view:
            view = view[write(reply_fd, view) :]

    reply({"hello": 1})
    function: Any = None
    for line in requests:
        try:
            request = codec.loads(line)
            op = request.get("op")
            if op == "run":
                try:
                    _execute(request["source"], "__main__")
                    outcome: dict[str, Any] = {"exit": 0}
                except SystemExit as exc:
                    outcome = _exit_outcome(exc)
                except BaseException as exc:
                    outcome = {"error": _error(exc)}
                reply({"done": outcome})
                break
            if op == "load":
                namespace = _execute(request["source"], "__candidate__")
                function = namespace.get(request["entry"])
                if not callable(function):
                    raise NameError(f"the program defines no function named {request['entry']!r}")
                reply({"ok": True})
            elif op == "call":
                args = codec.decode_value(request["args"])
                kwargs = codec.decode_value(request.get("kwargs", {"$dict": []}))
                value = function(*args, **kwargs)
                reply({"value": codec.encode_value(value)})
            else:
                raise ValueError(f"unknown request {op!r}")
        except BaseException as exc:  # the program's exceptions, SystemExit included, are replies
            reply({"error": _error(exc)})
    _leave()


def _leave() -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    # No atexit handlers or finalizers of the program's: they could only delay the end.
    os._exit(0)


BOOTSTRAP = """\
import json, sys, types
codec = types.ModuleType("sandbox_literals")
exec(compile(sys.argv[1], "literals.py", "exec"), codec.__dict__)
stub = {"__name__": "sandbox_stub"}
exec(compile(sys.argv[2], "sandbox_stub.py", "exec"), stub)
config = json.loads(sys.argv[3])
del sys.argv[1:]
stub["serve"](codec, config)
"""
"""What `python -c` runs: the codec and this stub arrive as arguments, the configuration last."""
