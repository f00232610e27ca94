"""A real local Ray cluster for the tests: a head node and a second node process, both on
127.0.0.1, started with Ray's own `ray start` and stopped with `ray stop`."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [str(RAY), *args], check=True, capture_output=True, text=True, env=env, timeout=180
    )


@contextmanager
def local_cluster(
    tmp: Path,
    head_cpus: int = 2,
    second_cpus: int = 1,
    *,
    head_gpus: int = 0,
    second_gpus: int = 0,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Start the cluster; yields its address (127.0.0.1:PORT). Its token (Ray's token
    authentication) is in this process's environment meanwhile, so the commands the tests start
    reach the cluster as a user's shell with RAY_AUTH_TOKEN set would. A node's GPUs are logical
    (Ray schedules on them; nothing checks for a device); `extra_env` is added to the environment
    of the cluster's processes only, which their Ray workers inherit (a PYTHONPATH holding a
    plugin, as if it were installed on every node)."""
    port = _free_port()
    auth = {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    saved = {key: os.environ.get(key) for key in auth}
    os.environ.update(auth)
    env = {**os.environ, **(extra_env or {})}
    temp = tmp / "ray"  # Ray's socket paths must stay short: tmp_path is short enough
    common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    _ray(
        "start", "--head", f"--port={port}", f"--num-cpus={head_cpus}", f"--num-gpus={head_gpus}",
        "--include-dashboard=false", f"--temp-dir={temp}", *common, env=env,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        _ray("start", f"--address={address}", f"--num-cpus={second_cpus}",
             f"--num-gpus={second_gpus}", *common, env=env)  # fmt: skip
        _wait_for_nodes(address, 2, env)
        yield address
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _wait_for_nodes(address: str, count: int, env: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    while True:
        out = subprocess.run(
            [sys.executable, "-c", probe, address], capture_output=True, text=True, env=env,
            timeout=120,
        )  # fmt: skip
        if out.stdout.strip() == str(count):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the cluster never had {count} nodes: {out.stdout} {out.stderr}")
        time.sleep(1)


def worker_pids(name: str = "ModelWorker") -> list[int]:
    """Processes of live Ray actors of class `name` (Ray titles them 'ray::NAME', and
    'ray::NAME.METHOD' while one runs), those busy in a method first."""
    found = subprocess.run(["pgrep", "-af", f"ray::{name}"], capture_output=True, text=True)
    rows = [line.split(maxsplit=1) for line in found.stdout.splitlines() if line.strip()]
    busy = [int(pid) for pid, title in rows if f"ray::{name}." in title]
    idle = [int(pid) for pid, title in rows if f"ray::{name}." not in title]
    return busy + idle


def kill_a_busy_worker(
    run: subprocess.Popen[str], running_pids: Callable[[], set[int]], stored: Callable[[], int]
) -> int:
    """Once `run` has stored 100 samples, SIGKILL a ModelWorker in the middle of a unit (its pid
    among `running_pids()`, those of the runs 'running' in the database); returns its pid."""
    deadline = time.monotonic() + 120
    while not (busy := set(worker_pids()) & running_pids()) or stored() < 100:
        assert time.monotonic() < deadline and run.poll() is None, "the run ended first"
        time.sleep(0.2)
    killed = min(busy)
    os.kill(killed, signal.SIGKILL)
    return killed
