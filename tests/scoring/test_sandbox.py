"""The sandbox against hostile programs (tests/scoring/hostile/*.py), at every isolation level this
host supports. Each hostile file starts with '# expect: status, ...' and optionally
'# levels: namespaces' when weaker levels are documented not to contain it."""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gapbench.scoring import sandbox
from gapbench.scoring.isolation import NAMESPACES, RLIMITS
from gapbench.scoring.sandbox import (
    Isolation,
    SandboxLimits,
    SandboxResult,
    available_isolations,
    isolation_level,
    run_program,
    run_programs,
)

HOSTILE_DIR = Path(__file__).parent / "hostile"
HOSTILE = sorted(HOSTILE_DIR.glob("*.py"))
SECRET = "sk-test-secret"
LIMITS = SandboxLimits(cpu_s=2, wall_s=3, memory_mb=512, file_size_mb=16, nproc=32, nofile=128)
ISOLATIONS = available_isolations()


def _header(path: Path, key: str) -> list[str]:
    m = re.search(rf"^# {key}: (.+)$", path.read_text(), re.MULTILINE)
    return [s.strip() for s in m.group(1).split(",")] if m else []


@dataclass
class HostileRun:
    results: dict[str, SandboxResult]
    host_dir: Path
    accepted: list[bytes]
    leftovers: list[str]


def _sandbox_processes() -> list[str]:
    """Command lines of any process still running from a sandbox working directory."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"gapbench-sbx-" in cmdline and entry.isdigit():
            found.append(cmdline.decode(errors="replace"))
    return found


@pytest.fixture(scope="module", params=ISOLATIONS, ids=lambda iso: iso.level)
def hostile_run(request: pytest.FixtureRequest) -> Iterator[HostileRun]:
    isolation: Isolation = request.param
    # A world-writable directory straight under /tmp: only the sandbox stands between it and a
    # program that wants to write there or delete the sentinel.
    host_dir = Path(tempfile.mkdtemp(prefix="gapbench-hostile-"))
    host_dir.chmod(0o777)
    (host_dir / "sentinel.txt").write_text("keep me")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    old_key = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = SECRET
    try:
        chosen = [p for p in HOSTILE if not _header(p, "levels") or isolation.level in
                  _header(p, "levels")]  # fmt: skip
        sources = [
            p.read_text()
            .replace("__HOST_DIR__", str(host_dir))
            .replace("__PORT__", str(port))
            .replace("__TEST_PID__", str(os.getpid()))
            for p in chosen
        ]
        results = run_programs(sources, LIMITS, isolation=isolation)
        accepted = []
        try:
            conn, _ = listener.accept()
            accepted.append(conn.recv(100))
        except BlockingIOError:
            pass
        leftovers = _sandbox_processes()
        for _ in range(20):
            if not leftovers:
                break
            time.sleep(0.1)
            leftovers = _sandbox_processes()
        yield HostileRun(
            {p.stem: r for p, r in zip(chosen, results, strict=True)}, host_dir, accepted, leftovers
        )
    finally:
        listener.close()
        if old_key is None:
            os.environ.pop("OPENAI_API_KEY", None)
        else:
            os.environ["OPENAI_API_KEY"] = old_key
        for child in host_dir.iterdir():
            child.unlink()
        host_dir.rmdir()


def test_there_are_enough_hostile_programs() -> None:
    assert len(HOSTILE) >= 15


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.stem)
def test_hostile_program_is_contained(hostile_run: HostileRun, path: Path) -> None:
    if path.stem not in hostile_run.results:
        pytest.skip(f"documented as not contained at this level: {_header(path, 'levels')}")
    result = hostile_run.results[path.stem]
    expected = _header(path, "expect")
    assert result.status in expected, (result.status, result.reason, result.stderr[-500:])
    assert result.passed == (result.status == "passed")
    assert result.reason
    assert SECRET not in result.stdout + result.stderr


def test_hostile_programs_leave_the_host_untouched(hostile_run: HostileRun) -> None:
    assert (hostile_run.host_dir / "sentinel.txt").read_text() == "keep me"
    assert not (hostile_run.host_dir / "escaped.txt").exists()
    assert not Path("/etc/gapbench-escaped").exists()
    assert hostile_run.accepted == [], "a sandboxed program reached a loopback port"
    assert hostile_run.leftovers == [], "a daemon outlived its program"
    assert list(Path(tempfile.gettempdir()).glob("gapbench-sbx-*")) == []


def test_limits_are_applied(hostile_run: HostileRun) -> None:
    result = hostile_run.results["proc_self"]
    limits = {
        m.group(1).strip(): m.group(2)
        for m in re.finditer(r"^(Max [a-z ]+?)\s{2,}(\S+)", result.stdout, re.MULTILINE)
    }
    assert limits["Max address space"] == str(512 * 1024 * 1024)
    assert limits["Max file size"] == str(16 * 1024 * 1024)
    assert limits["Max open files"] == "128"
    assert limits["Max cpu time"] == "2"
    assert limits["Max core file size"] == "0"
    if "uid 0 " not in result.stdout:  # as root at the weakest level the count is not ours
        assert limits["Max processes"] == "32"
    if result.isolation == NAMESPACES and os.geteuid() == 0:
        assert "uid 0 " not in result.stdout


def test_a_correct_program_passes_and_output_is_captured() -> None:
    result = run_program("import sys\nprint('hello')\nprint('oops', file=sys.stderr)")
    assert (result.passed, result.status) == (True, "passed")
    assert result.stdout == "hello\n"
    assert "oops" in result.stderr
    assert result.isolation == isolation_level().level
    assert result.warning == isolation_level().warning


def test_a_failing_check_fails_with_the_exception_as_reason() -> None:
    result = run_program("def f(x):\n    return x + 1\nassert f(1) == 3, 'f(1) should be 3'")
    assert (result.passed, result.status) == (False, "failed")
    assert result.reason == "AssertionError: f(1) should be 3"


def test_exiting_before_the_success_marker_is_a_failure() -> None:
    early = run_program("import sys\nsys.exit(0)\nprint('DONE-123')", success_marker="DONE-123")
    assert (early.passed, early.status) == (False, "failed")
    full = run_program("print('DONE-123')", success_marker="DONE-123")
    assert full.passed


def test_the_working_directory_is_fresh_and_removed() -> None:
    program = (
        "import os\nassert os.listdir('.') == ['program.py'], os.listdir('.')\nprint(os.getcwd())"
    )
    first = run_program(program + "\nopen('left.txt', 'w').write('x')")
    second = run_program(program)
    assert first.passed and second.passed, (first.reason, second.reason)
    workdir = Path(first.stdout.strip())
    assert workdir != Path(second.stdout.strip())
    assert not workdir.exists()


def test_the_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    result = run_program("import os, json\nprint(json.dumps(sorted(os.environ)))")
    assert result.passed
    assert set(eval(result.stdout)) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR"}


def test_programs_run_in_parallel() -> None:
    started = time.monotonic()
    results = run_programs(["import time\ntime.sleep(0.6)"] * 6, workers=2)
    elapsed = time.monotonic() - started
    assert all(r.passed for r in results)
    assert elapsed < 3.2, f"6 x 0.6 s on 2 workers took {elapsed:.1f} s"


def test_results_keep_the_order_of_the_programs() -> None:
    results = run_programs([f"print({i})" for i in range(5)])
    assert [r.stdout.strip() for r in results] == [str(i) for i in range(5)]


def test_this_host_has_an_isolation_level() -> None:
    levels = [iso.level for iso in ISOLATIONS]
    assert levels and set(levels) <= {NAMESPACES, RLIMITS}
    assert isolation_level() == ISOLATIONS[0]
    assert (isolation_level().warning is None) == (isolation_level().level == NAMESPACES)


def test_a_host_without_namespaces_degrades_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_try = sandbox._try

    def no_namespaces(isolation: Isolation) -> SandboxResult:
        if isolation.level == NAMESPACES:
            return SandboxResult(False, "error", "sandbox setup failed: unshare: EPERM", 0.0, "")
        return real_try(isolation)

    monkeypatch.setattr(sandbox, "_try", no_namespaces)
    available_isolations.cache_clear()
    try:
        level = isolation_level()
        assert level.level == RLIMITS
        assert level.warning is not None and "unshare: EPERM" in level.warning
        result = run_program("print('still isolated')", isolation=level)
        assert result.passed and result.isolation == RLIMITS and result.warning == level.warning
    finally:
        available_isolations.cache_clear()


def test_a_host_without_any_isolation_refuses_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = SandboxResult(False, "error", "nothing works", 0.0, "")
    monkeypatch.setattr(sandbox, "_try", lambda isolation: failed)
    available_isolations.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="nothing works"):
            isolation_level()
    finally:
        available_isolations.cache_clear()
