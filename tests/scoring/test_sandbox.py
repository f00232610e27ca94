"""The sandbox's behaviour with ordinary programs: outcomes and their reasons, trusted checks
through the proxy, limits, the environment, parallel runs, and what happens where bubblewrap is
missing. Hostile programs, as root and as a user, are in test_sandbox_hostile.py."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import race

from gapbench.scoring import sandbox, sandbox_engine
from gapbench.scoring.sandbox import (
    BWRAP,
    UNSAFE,
    Check,
    Job,
    SandboxLimits,
    SandboxUnavailable,
    isolation_level,
    run_checked,
    run_jobs,
    run_program,
)

pytestmark = pytest.mark.skipif(
    sandbox_engine.bwrap_path() is None,
    reason="bubblewrap is not installed (apt-get install bubblewrap)",
)
SECRET = "sk-test-secret"


def _squares(inputs: tuple[Any, ...] = (3, 7, -5)) -> Check:
    def verify(f: Callable[..., Any]) -> None:
        for x in inputs:
            got = f(x)
            assert type(got) is int and got == x * x, f"f({x!r}) returned {got!r}"

    return Check("f", verify)


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This host as if bubblewrap were not installed."""
    monkeypatch.setattr(sandbox_engine, "bwrap_path", lambda: None)
    sandbox._probe.cache_clear()
    try:
        yield
    finally:
        sandbox.allow_unsafe(False)
        sandbox._probe.cache_clear()


def test_a_correct_program_passes_and_output_is_captured() -> None:
    result = run_program("import sys\nprint('hello')\nprint('oops', file=sys.stderr)")
    assert (result.passed, result.status, result.reason) == (True, "passed", "ran to the end")
    assert result.stdout == "hello\n"
    assert "oops" in result.stderr
    assert result.isolation == BWRAP == isolation_level().level
    assert result.warning is None


def test_an_exception_is_the_reason() -> None:
    result = run_program("def f(x):\n    return x + 1\nassert f(1) == 3, 'f(1) should be 3'")
    assert (result.passed, result.status) == (False, "failed")
    assert result.reason == "AssertionError: f(1) should be 3"
    assert "line 3" in result.stderr


@pytest.mark.parametrize(
    ("source", "status", "reason"),
    [
        ("raise SystemExit(121)", "failed", "exited with code 121"),
        ("raise SystemExit(123)", "failed", "exited with code 123"),
        ("import sys\nsys.exit('bye')", "failed", "exited with code 1: bye"),
        ("x = bytearray(2 ** 31)", "memory", "MemoryError"),
        ("open('/usr/escaped', 'w')", "forbidden", "Read-only file system"),
        ("import os\nos._exit(0)", "failed", "the program ended without answering"),
    ],
)
def test_labels_come_from_what_happened_not_from_exit_codes(
    source: str, status: str, reason: str
) -> None:
    result = run_program(source)
    assert result.status == status and reason in result.reason, result


def test_cpu_and_wall_limits_are_observed_by_the_supervisor() -> None:
    limits = SandboxLimits(cpu_s=1, wall_s=15)
    spin, sleep, suicide = run_jobs(
        [
            Job("while True:\n    pass"),
            Job("import time\ntime.sleep(60)"),
            # A program that kills itself used less than a second of CPU: not a CPU timeout.
            Job("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\nraise SystemExit(3)"),
        ],
        limits,
    )
    assert (spin.status, spin.reason) == ("timeout", "CPU time limit of 1 s exceeded")
    assert spin.duration_s < 10
    assert sleep.status == "timeout" and "wall-clock" in sleep.reason
    assert suicide.status == "failed" and "CPU" not in suicide.reason


def test_a_checked_function_passes_only_when_the_trusted_tests_pass() -> None:
    right = run_checked("def f(x):\n    return x * x\n", _squares())
    assert (right.passed, right.status, right.reason) == (True, "passed", "every test passed")
    wrong = run_checked("def f(x):\n    return x + x\n", _squares())
    assert not wrong.passed and wrong.reason.startswith("AssertionError: f(3) returned 6")
    floats = run_checked("def f(x):\n    return float(x * x)\n", _squares())
    assert not floats.passed and "returned 9.0" in floats.reason


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("def f(x:\n", "SyntaxError"),
        ("def g(x):\n    return x\n", "no function named 'f'"),
        ("import nonexistent_module\n", "ModuleNotFoundError"),
        ("def f(x):\n    raise KeyError(x)\n", "KeyError: 3"),
        ("def f(x):\n    return iter([x])\n", "cannot be checked outside the sandbox"),
        ("def f(x):\n    return 10 ** 5000\n", "UnsupportedValue"),
    ],
)
def test_a_candidate_that_cannot_answer_fails_with_the_reason(source: str, reason: str) -> None:
    result = run_checked(source, _squares())
    assert not result.passed and result.status == "failed"
    assert reason in result.reason, result.reason


def test_plain_values_of_every_literal_type_cross_the_wall() -> None:
    values = [None, True, 0, -(10**30), 2.5, -0.0, math.inf, 1 + 2j, "héllo\n", b"\x00\xff",
              [1, [2]], (1, (2,)), {1: "a", (2, 3): [4]}, {1, 2}, frozenset({3}),
              {"k": None}]  # fmt: skip
    seen: list[Any] = []

    def verify(f: Callable[..., Any]) -> None:
        for value in values:
            seen.append(f(value, key=value))
        assert math.isnan(f(math.nan, key=0))

    result = run_checked("def f(x, key):\n    assert x == key or x != x\n    return x\n",
                         Check("f", verify))  # fmt: skip
    assert result.passed, result.reason
    assert seen == values
    assert [type(v) for v in seen] == [type(v) for v in values]


def test_a_builtin_exception_stays_catchable_by_the_tests() -> None:
    def verify(f: Callable[..., Any]) -> None:
        try:
            f(-1)
        except ValueError as exc:
            assert "negative" in str(exc)
        else:
            raise AssertionError("f(-1) should raise ValueError")

    source = "def f(x):\n    if x < 0:\n        raise ValueError('negative input')\n    return x\n"
    assert run_checked(source, Check("f", verify)).passed


def test_a_program_that_ends_mid_check_cannot_be_swallowed_by_the_tests() -> None:
    def forgiving(f: Callable[..., Any]) -> None:
        for x in range(3):
            # A lenient test, which must still not turn a crash into a pass.
            with contextlib.suppress(Exception):
                f(x)

    result = run_checked("import os\ndef f(x):\n    os._exit(0)\n", Check("f", forgiving))
    assert not result.passed and "ended without answering" in result.reason


def test_a_hanging_function_times_out() -> None:
    result = run_checked("def f(x):\n    while True:\n        pass\n", _squares(),
                         SandboxLimits(cpu_s=1, wall_s=10))  # fmt: skip
    assert result.status == "timeout"


def test_the_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    result = run_program("import os, json\nprint(json.dumps(dict(os.environ)))")
    assert result.passed
    env = json.loads(result.stdout)
    assert set(env) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PWD"}
    assert SECRET not in result.stdout


def test_the_working_directory_is_fresh_private_and_sized() -> None:
    program = "import os\nassert os.listdir('.') == [], os.listdir('.')\nprint(os.getcwd())\n"
    first = run_program(program + "open('left.txt', 'w').write('x')")
    second = run_program(program)
    assert first.passed and second.passed, (first.reason, second.reason)
    assert first.stdout.strip() == sandbox_engine.WORKDIR
    full = run_program("f = open('big', 'wb')\nwhile True:\n    f.write(b'x' * 65536)",
                       SandboxLimits(tmpfs_mb=4, file_size_mb=16))  # fmt: skip
    assert full.status == "forbidden" and "No space left" in full.reason


def test_the_root_is_minimal_and_read_only() -> None:
    result = run_program(
        "import os, json\n"
        "print(json.dumps({'root': sorted(os.listdir('/')), 'etc': os.path.exists('/etc/passwd'),"
        " 'home': os.path.exists(os.path.expanduser('~root'))}))"
    )
    seen = json.loads(result.stdout)
    allowed = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "proc", "dev", "tmp",
               "sandbox", "root", "home", "opt", "work"}  # fmt: skip
    assert set(seen["root"]) <= allowed
    assert not seen["etc"]


def test_jobs_run_in_parallel_and_keep_their_order() -> None:
    """Each job reports when it ran (the sandbox shares the host's clock): two at a time, never
    three, whatever the machine's speed (a bound on the total wall time failed on slow ones)."""
    program = "import time\nstart = time.time()\ntime.sleep(0.6)\nprint({i}, start, time.time())"
    results = run_jobs([Job(program.format(i=i)) for i in range(6)], workers=2)
    lines = [r.stdout.split() for r in results]
    assert [line[0] for line in lines] == [str(i) for i in range(6)]
    spans = [(float(line[1]), float(line[2])) for line in lines]
    most_at_once = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert most_at_once == 2, spans


_UID_PROGRAM = "import os, time\ntime.sleep(1.5)\nprint(os.getuid())\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="throwaway uids are used only when running as root")
def test_concurrent_gapbench_processes_never_share_a_throwaway_uid(tmp_path: Path) -> None:
    """Three processes start their jobs at one moment (tests.helpers.race), so all nine hold a
    uid at once: one that imported late could otherwise draw a uid freed by a finished job."""
    script = (
        "import json\nfrom gapbench.scoring.sandbox import Job, run_jobs\n"
        "start_together()\n"
        f"results = run_jobs([Job({_UID_PROGRAM!r})] * 3, workers=3)\n"
        "print(json.dumps([r.stdout.strip() for r in results]))\n"
    )
    outputs = race(script, "", tmp_path, racers=3)
    assert all(status == 0 for _, _, status in outputs), [err for _, err, _ in outputs]
    uids = [uid for out, _, _ in outputs for uid in json.loads(out)]
    assert len(uids) == 9 and len(set(uids)) == 9, uids
    assert all(int(uid) >= 2_000_000_000 for uid in uids)


def test_without_bubblewrap_code_refuses_to_run_with_one_sentence(no_bwrap: None) -> None:
    with pytest.raises(SandboxUnavailable) as refused:
        isolation_level()
    message = str(refused.value)
    assert "bubblewrap (bwrap) is not installed" in message
    assert "--unsafe-sandbox" in message and "apt-get install bubblewrap" in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_unsafe_sandbox_runs_with_a_warning_and_never_as_root(no_bwrap: None) -> None:
    sandbox.allow_unsafe()
    isolation = isolation_level()
    assert isolation.level == UNSAFE and isolation.warning is not None
    result = run_program("import os\nprint(os.getuid())", isolation=isolation)
    assert result.passed and result.isolation == UNSAFE and result.warning == isolation.warning
    assert int(result.stdout) != 0
    checked = run_checked("def f(x):\n    return x * x\n", _squares(), isolation=isolation)
    assert checked.passed, checked.reason
