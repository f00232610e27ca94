"""A user:password written in an endpoint URL is sent as Basic auth and appears nowhere else: not
in the model id, the stored samples, runs or command, nor in any table, JSON or error. Run as a
user would, in a subprocess (the stored command comes from its argv), against the fault server on
loopback, which refuses requests without the right credentials."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from tests.backends.fault_server import FaultServer
from tests.helpers import run_gapbench

from gapbench.backends.references import resolve_model
from gapbench.catalog.credentials import public_url, strip_credentials
from gapbench.errors import UsageError

USER = "evaluator"
PASSWORD = "pw-NEVER-SHOWN-41c9"


def test_names_and_messages_leave_the_credentials_out() -> None:
    ref = f"openai:http://{USER}:{PASSWORD}@h:8000/v1,http://h2/v1#m?body.top_k=1"
    spec = resolve_model(ref)
    assert spec.id == "openai:http://h:8000/v1,http://h2/v1#m?body.top_k=1"
    assert spec.api is not None and PASSWORD in spec.api.base_urls[0]  # still used, not shown
    for bad in (f"{ref}&timout=3", f"openai:http://{USER}:{PASSWORD}@h:port/v1#m"):
        with pytest.raises(UsageError) as info:
            resolve_model(bad)
        assert PASSWORD not in str(info.value) and "***@h" in str(info.value)
    assert public_url(f"https://{USER}:{PASSWORD}@[::1]:8443/v1") == "https://[::1]:8443/v1"
    assert strip_credentials("--model 'openai:http://u:p@ss@h/v1#m@2'") == (
        "--model 'openai:http://***@h/v1#m@2'"
    )


@pytest.mark.network
def test_cli_run_uses_url_credentials_and_never_stores_or_shows_them(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    with FaultServer(basic_auth=(USER, PASSWORD)) as server:
        url = server.url.replace("http://", f"http://{USER}:{PASSWORD}@")
        ref = f"openai:{url}#fake"
        run = run_gapbench("run", "--model", ref, "--task", "arith", "--n", "3", "--db", str(db))
        wrong = run_gapbench(
            "run", "--model", ref.replace(PASSWORD, PASSWORD[::-1]), "--task", "arith",
            "--n", "4", "--db", str(db),
        )  # fmt: skip  # one sample more than stored, so the endpoint is called
    assert run.returncode == 0, run.stderr
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    answered = [r for r in server.log if r.fault != "401"]
    assert answered and all(r.headers["authorization"] == f"Basic {token}" for r in answered)
    assert wrong.returncode == 2 and "check the user and password in the URL" in wrong.stderr
    public_id = f"openai:{server.url}#fake"
    board = run_gapbench("leaderboard", "--db", str(db))
    board_json = run_gapbench("leaderboard", "--json", "--db", str(db))
    compare = run_gapbench("compare", public_id, public_id, "--db", str(db))
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
        rows = conn.execute("SELECT model_id, error FROM samples").fetchall()
        [(command,)] = conn.execute("SELECT command FROM runs").fetchall()
    assert len(rows) == 3 and all(m == public_id and e is None for m, e in rows)
    assert f"http://***@127.0.0.1:{server.port}/v1#fake" in command
    assert public_id in board.stdout and public_id in board_json.stdout
    outputs = [p.stdout + p.stderr for p in (run, wrong, board, board_json, compare)]
    for text in [dump, *outputs]:
        assert PASSWORD not in text and token not in text
