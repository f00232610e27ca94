"""The server's summary cache: computed before the first request, recomputed in the background
when it is slow (requests keep getting the previous summary), in the request when it is fast."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from tests.report.report_dbs import CN_B, US_A, run, scripted_db

from gapbench.report import server, views
from gapbench.report.views import ReportOptions


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Times at which the summary was computed."""
    calls: list[float] = []
    real = views.summary_view

    def summary_view(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "summary_view", summary_view)
    return calls


def _client(db: Path) -> TestClient:
    app = server.create_app(ReportOptions(str(db)), "127.0.0.1")
    return TestClient(app, base_url="http://127.0.0.1")


def _models(client: TestClient) -> dict[str, int]:
    rows = client.get("/api/leaderboard").json()
    return {row["model"]: row["n"] for row in rows if row["task"] == "overall"}


def test_the_summary_is_computed_before_the_first_request(
    tmp_path: Path, counted: list[float]
) -> None:
    db = scripted_db(tmp_path / "r.db", 10, US_A, CN_B)
    client = _client(db)
    assert len(counted) == 1  # at startup
    assert client.get("/api/leaderboard").status_code == 200
    client.get("/api/view")
    client.get("/api/version")
    assert len(counted) == 1  # nothing changed: no request computed it again


def test_a_fast_summary_is_recomputed_in_the_request_that_sees_the_change(
    tmp_path: Path, counted: list[float]
) -> None:
    db = scripted_db(tmp_path / "r.db", 10, US_A, CN_B)
    client = _client(db)
    before = client.get("/api/version").json()
    run(db, "--model", US_A, "--model", CN_B, "--task", "arith,logic", "--n", "15")
    after = client.get("/api/version").json()
    assert after["fingerprint"] != before["fingerprint"] and after["updating"] is False
    assert set(_models(client).values()) == {30}  # 15 per task, two tasks
    assert len(counted) == 2


def test_a_slow_summary_is_recomputed_in_the_background(
    tmp_path: Path, counted: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "SYNCHRONOUS_LIMIT_S", 0.0)  # every computation counts as slow
    db = scripted_db(tmp_path / "r.db", 10, US_A, CN_B)
    client = _client(db)
    old = client.get("/api/version").json()
    assert set(_models(client).values()) == {20}
    run(db, "--model", US_A, "--model", CN_B, "--task", "arith,logic", "--n", "15")

    stale = client.get("/api/version").json()
    # The previous summary, said to be updating, while the new one is computed elsewhere.
    assert stale == {"fingerprint": old["fingerprint"], "updating": True}
    deadline = time.monotonic() + 60
    while client.get("/api/version").json()["updating"]:
        assert time.monotonic() < deadline, "the background computation never finished"
        time.sleep(0.05)
    assert client.get("/api/version").json()["fingerprint"] != old["fingerprint"]
    assert set(_models(client).values()) == {30}
    assert len(counted) == 2  # one at startup, one in the background: polls did not pile up
