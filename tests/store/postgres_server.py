"""A real, throwaway PostgreSQL server for the tests and benchmarks: Debian's `postgresql`
binaries, `initdb` into a temporary folder, listening on 127.0.0.1 only (no Unix socket) on a free
port, password authentication (scram-sha-256) for its one superuser.

PostgreSQL refuses to run as root, so under root (CI) the server runs as an unprivileged system
user, `gapbench-pg`, created when absent (`nobody` where it cannot be created); the data folder is
made in /tmp and handed to that user, since pytest's own temporary folders are private to root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVER_USER = "gapbench-pg"
SUPERUSER = "gapbench"


def find_bindir() -> Path | None:
    """The folder holding initdb and postgres: on PATH, else Debian's /usr/lib/postgresql/N/bin
    (the newest); None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and Path(found).with_name("postgres").exists():
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    for initdb in reversed(versions):
        if initdb.with_name("postgres").exists():
            return initdb.parent
    return None


MISSING_REASON = (
    "PostgreSQL's server binaries (initdb, postgres) are not installed: "
    "apt-get install postgresql (.ci/run does) to run the PostgreSQL store tests"
)


def _server_account() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, or None to run it as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    for name in (SERVER_USER, "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            if name == SERVER_USER and shutil.which("useradd"):
                subprocess.run(
                    ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                     SERVER_USER],
                    check=False, capture_output=True,
                )  # fmt: skip
                with contextlib.suppress(KeyError):
                    entry = pwd.getpwnam(name)
                    return entry.pw_uid, entry.pw_gid
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("no unprivileged user to run PostgreSQL as (tried gapbench-pg, nobody)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    password: str
    proc: subprocess.Popen[bytes]
    account: tuple[int, int] | None

    host = "127.0.0.1"
    user = SUPERUSER

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{database}"

    def admin(self, database: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.url(database), autocommit=True)

    def create_database(self, name: str | None = None, *, options: str = "") -> str:
        """A new, empty database; returns its URL (password included)."""
        name = name or f"t_{secrets.token_hex(6)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" {options}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @property
    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # "fast" shutdown: roll back, close, exit
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _run_as(account: tuple[int, int] | None) -> dict[str, Any]:
    if account is None:
        return {}
    uid, gid = account
    return {"user": uid, "group": gid, "extra_groups": []}


def start(bindir: Path, *, settings: dict[str, str] | None = None) -> PostgresServer:
    """initdb a new cluster and start it; `settings` are postgres `-c` options."""
    account = _server_account()
    root = Path(tempfile.mkdtemp(prefix="gapbench-pg-"))
    data = root / "data"
    pwfile = root / "pw"
    password = secrets.token_urlsafe(12)
    pwfile.write_text(password + "\n")
    if account is not None:
        os.chown(root, *account)
        os.chown(pwfile, *account)
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    try:
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}",
             "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True, capture_output=True, env=env, cwd=root, **_run_as(account),
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc
    options = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        # A throwaway server: durability buys nothing here (the store's own setting is
        # synchronous_commit=off per session anyway, see store/postgres.py).
        "fsync": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "log_min_messages": "warning",
        **(settings or {}),
    }
    for _attempt in range(5):
        port = free_port()
        args = [str(bindir / "postgres"), "-D", str(data), "-c", f"port={port}"]
        for key, value in options.items():
            args += ["-c", f"{key}={value}"]
        log = open(root / "server.log", "ab")  # noqa: SIM115 (the server holds it)
        run_as: dict[str, Any] = _run_as(account)
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, **run_as
        )
        log.close()
        server = PostgresServer(bindir, root, port, password, proc, account)
        if _wait_ready(server):
            return server
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = server.log
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start:\n{text[-3000:]}")


def _wait_ready(server: PostgresServer, timeout: float = 30.0) -> bool:
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False  # e.g. the port was taken meanwhile: try another
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            time.sleep(0.1)
    return False


@contextlib.contextmanager
def running(settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(MISSING_REASON)
    server = start(bindir, settings=settings)
    try:
        yield server
    finally:
        server.stop()
