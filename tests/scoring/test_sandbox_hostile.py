"""The sandbox against hostile programs (tests/scoring/hostile/*.py), as root and as a plain user.

Each program tries one escape, one limit breach or one forged pass, and exits 0 only when it
succeeded. Its header says how it must end: `# expect: status, ...`, optionally `# reason: text`
(a substring of the reason) and `# mode: check` (it is a candidate for a trusted check that
f(x) == x * x, so the only way to pass is to compute squares). A whole batch runs in one
subprocess (hostile_driver.py) per user, with a fake API key in its environment, a fake home
holding a shell profile, an SSH key, a results database, a copy of gapbench's source and a
site-packages of the user's own, and, on the host, TCP, UDP and unix-socket servers on loopback.
Afterwards the host must look exactly as before.

As root the driver runs with the project's interpreter; as a user with a venv of an interpreter
that user can execute (the Debian python3.11 that .ci/run installs), under a uid with no passwd
entry. CI runs as root, so without the user half the hostile user case would never be tested.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gapbench.scoring import sandbox
from gapbench.scoring.sandbox_engine import bwrap_path

HOSTILE_DIR = Path(__file__).parent / "hostile"
HOSTILE = sorted(HOSTILE_DIR.glob("*.py"))
DRIVER = Path(__file__).with_name("hostile_driver.py")
SRC = Path(sandbox.__file__).parents[2]
"""The folder holding the gapbench package (src/)."""
TEST_UID = 54_321
"""The unprivileged user: no passwd entry needed; it owns only the fake home made here."""
LIMITS = {"cpu_s": 2, "wall_s": 4.0, "memory_mb": 512, "file_size_mb": 16, "nproc": 32,
          "nofile": 128, "tmpfs_mb": 16}  # fmt: skip
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/var/lock", "/run/lock", "/dev/shm")


def _header(path: Path, key: str) -> list[str]:
    m = re.search(rf"^# {key}: (.+)$", path.read_text(), re.MULTILINE)
    return [s.strip() for s in m.group(1).split(",")] if m else []


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "d"
        for p in sorted(root.rglob("*"))
        if not p.is_symlink() and "__pycache__" not in p.parts
    }


def _escapes(folder: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(folder) if n.startswith("gapbench-escape"))
    except OSError:
        return []


def _user_interpreter() -> str | None:
    """An interpreter of this Python version that an unprivileged uid can execute."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if os.access(candidate, os.X_OK) and os.stat(candidate).st_mode & 0o001:
            return candidate
    return None


@dataclass
class Host:
    """What the programs aim at, and what the test compares afterwards."""

    base: Path
    home: Path
    db: Path
    src: Path
    site: Path
    host_dir: Path
    secret: str
    before: dict[str, Any]


def _make_host(uid: int | None) -> Host:
    base = Path(tempfile.mkdtemp(prefix="gapbench-hostile-", dir="/tmp"))
    base.chmod(0o755)
    home = base / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".bashrc").write_text("# the user's own profile\n")
    (home / ".ssh" / "id_ed25519").write_text("-----PRIVATE KEY CANARY-----\n")
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    project = home / "project"
    project.mkdir()
    db = project / "gapbench.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE results (model TEXT, correct INTEGER)")
        conn.execute("INSERT INTO results VALUES ('qwen', 1)")
    conn.close()
    src = project / "src"
    shutil.copytree(
        SRC / "gapbench", src / "gapbench", ignore=shutil.ignore_patterns("__pycache__")
    )
    host_dir = base / "world-writable"
    host_dir.mkdir()
    (host_dir / "sentinel.txt").write_text("keep me")
    host_dir.chmod(0o777)
    if uid is not None:
        interpreter = _user_interpreter()
        assert interpreter is not None
        subprocess.run([interpreter, "-m", "venv", "--without-pip", str(home / "venv")], check=True)
        site = next((home / "venv" / "lib").glob("python*/site-packages"))
        for path in [home, *home.rglob("*")]:
            os.lchown(path, uid, uid)
        home.chmod(0o700)
    else:
        site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    secret = "sk-test-canary-" + secrets.token_hex(8)
    return Host(base, home, db, src, site, host_dir, secret, {})


class Servers:
    """Loopback servers on the host that no sandboxed program may reach."""

    def __init__(self, base: Path) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        sock_dir = base / "sockets"
        sock_dir.mkdir()
        sock_dir.chmod(0o777)
        self.unix_path = str(sock_dir / "host.sock")
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.unix.listen()
        self.abstract_name = "gapbench-hostile-" + secrets.token_hex(6)
        self.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract.bind("\0" + self.abstract_name)
        self.abstract.listen()
        for s in (self.tcp, self.udp, self.unix, self.abstract):
            s.setblocking(False)

    def reached(self) -> list[str]:
        hits = []
        for name, sock in (("tcp", self.tcp), ("unix", self.unix), ("abstract", self.abstract)):
            try:
                sock.accept()
                hits.append(name)
            except BlockingIOError:
                pass
        try:
            self.udp.recvfrom(100)
            hits.append("udp")
        except BlockingIOError:
            pass
        return hits

    def close(self) -> None:
        for s in (self.tcp, self.udp, self.unix, self.abstract):
            s.close()


@dataclass
class HostileRun:
    as_root: bool
    results: dict[str, dict[str, Any]]
    honest: dict[str, Any]
    isolation: dict[str, Any]
    host: Host
    reached: list[str]
    leftovers: list[int]
    after: dict[str, Any]
    output: str


def _snapshot(host: Host) -> dict[str, Any]:
    return {
        "home": _tree_digest(host.home),
        "site": sorted(p.name for p in host.site.iterdir()),
        "host_dir": _tree_digest(host.host_dir),
        "world_writable": {f: _escapes(f) for f in WORLD_WRITABLE},
    }


def _processes_of(uids: range) -> list[int]:
    """Live processes of these uids. A killed sandbox's last process can be a zombie for a moment
    until init reaps it; it runs nothing, so it is waited for, not counted."""
    for _ in range(40):
        found = []
        for entry in os.listdir("/proc"):
            try:
                owner = os.stat(f"/proc/{entry}").st_uid
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if entry.isdigit() and owner in uids and state != "Z":
                found.append(int(entry))
        if not found:
            return []
        time.sleep(0.05)
    return found


def _run_batch(as_root: bool) -> HostileRun:
    uid = None if as_root or os.geteuid() != 0 else TEST_UID
    host = _make_host(uid)
    servers = Servers(host.base)
    try:
        replacements = {
            "__HOME__": str(host.home), "__DB__": str(host.db), "__SRC__": str(host.src),
            "__SITE__": str(host.site), "__HOST_DIR__": str(host.host_dir),
            "__TCP_PORT__": str(servers.tcp.getsockname()[1]),
            "__UDP_PORT__": str(servers.udp.getsockname()[1]),
            "__UNIX_SOCKET__": servers.unix_path, "__ABSTRACT_SOCKET__": servers.abstract_name,
            "__TEST_PID__": str(os.getpid()),
        }  # fmt: skip
        programs = []
        for path in HOSTILE:
            source = path.read_text()
            for key, value in replacements.items():
                source = source.replace(key, value)
            programs.append({"source": source, "mode": "check" if _header(path, "mode") else "run"})
        host.before = _snapshot(host)
        config = {"src": str(host.src if uid is not None else SRC), "programs": programs,
                  "limits": LIMITS}  # fmt: skip
        env = {"PATH": "/usr/bin:/bin", "HOME": str(host.home), "OPENAI_API_KEY": host.secret,
               "LANG": "C.UTF-8"}  # fmt: skip
        interpreter = sys.executable if uid is None else str(host.home / "venv" / "bin" / "python")
        proc = subprocess.run(
            [interpreter, str(DRIVER), json.dumps(config)],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(host.base),
            timeout=600,
            user=uid,
            group=uid,
            extra_groups=[] if uid is not None else None,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads(proc.stdout)
        results = report["results"]
        throwaway = range(2_000_000_000, 2_000_004_096)
        leftovers = _processes_of(range(TEST_UID, TEST_UID + 1) if uid else throwaway)
        return HostileRun(
            as_root=uid is None and os.geteuid() == 0,
            results={p.stem: r for p, r in zip(HOSTILE, results, strict=False)},
            honest=results[-1],
            isolation=report["isolation"],
            host=host,
            reached=servers.reached(),
            leftovers=leftovers,
            after=_snapshot(host),
            output=proc.stdout + proc.stderr,
        )
    finally:
        servers.close()


def _users() -> list[Any]:
    if os.geteuid() != 0:
        return [pytest.param(False, id="user")]
    skip_user = pytest.mark.skipif(
        _user_interpreter() is None,
        reason="no interpreter an unprivileged uid can execute (apt-get install python3)",
    )
    return [pytest.param(True, id="root"), pytest.param(False, id="user", marks=skip_user)]


@pytest.fixture(scope="module", params=_users())
def hostile_run(request: pytest.FixtureRequest) -> Iterator[HostileRun]:
    if bwrap_path() is None:
        pytest.skip("bubblewrap is not installed: apt-get install bubblewrap")
    run = _run_batch(request.param)
    try:
        yield run
    finally:
        shutil.rmtree(run.host.base, ignore_errors=True)
        for leftover in run.host.site.glob("gapbench_escape*"):
            leftover.unlink()


def test_there_are_enough_hostile_programs() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.stem)
def test_hostile_program_is_contained(hostile_run: HostileRun, path: Path) -> None:
    result = hostile_run.results[path.stem]
    expected = _header(path, "expect")
    assert result["status"] in expected, (
        result["status"],
        result["reason"],
        result["stderr"][-800:],
    )
    assert result["passed"] == (result["status"] == "passed")
    for text in _header(path, "reason"):
        assert text in result["reason"], result["reason"]
    assert hostile_run.host.secret not in result["stdout"] + result["stderr"] + result["reason"]
    assert "PRIVATE KEY CANARY" not in result["stdout"] + result["stderr"]
    assert result["isolation"] == sandbox.BWRAP


def test_the_evaluation_goes_on(hostile_run: HostileRun) -> None:
    assert hostile_run.honest["passed"], hostile_run.honest["reason"]


def test_the_host_is_untouched(hostile_run: HostileRun) -> None:
    before, after = hostile_run.host.before, hostile_run.after
    assert after["home"] == before["home"], "a program changed the user's home"
    assert after["site"] == before["site"], "a program wrote into site-packages"
    assert after["host_dir"] == before["host_dir"], "a program wrote into a host folder"
    assert after["world_writable"] == before["world_writable"]
    assert hostile_run.reached == [], "a sandboxed program reached a host server"
    assert hostile_run.leftovers == [], "a process of the sandbox outlived its program"
    assert hostile_run.host.secret not in hostile_run.output


def test_programs_run_unprivileged_with_their_limits(hostile_run: HostileRun) -> None:
    out = hostile_run.results["proc_self"]["stdout"]
    limits = {
        m.group(1).strip(): m.group(2)
        for m in re.finditer(r"^(Max [a-z ]+?)\s{2,}(\S+)", out, re.MULTILINE)
    }
    assert limits["Max address space"] == str(512 * 1024 * 1024)
    assert limits["Max file size"] == str(16 * 1024 * 1024)
    assert limits["Max open files"] == "128"
    assert limits["Max cpu time"] == "2"
    assert limits["Max core file size"] == "0"
    assert limits["Max processes"] == "32"
    status = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[field].strip(), 16) == 0, (field, status[field])
    assert status["NoNewPrivs"].strip() == "1"
    uids = status["Uid"].split()
    assert "0" not in uids
    # Only the standard streams and the two pipes of the protocol reach the program (the sixth
    # descriptor listed is the one os.listdir opened to list them).
    fds = re.search(r"fds (\[.*\])", out)
    assert fds is not None and len(json.loads(fds.group(1).replace("'", '"'))) == 6, out[-200:]
