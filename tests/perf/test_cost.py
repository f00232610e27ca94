"""Cost: price configuration precedence, arithmetic, Pareto frontier, and charging samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from gapbench.backends.registry import billing_of
from gapbench.errors import UsageError
from gapbench.perf.attribution import Accounting, account_runs
from gapbench.perf.cost import (
    DEFAULT_USD_PER_HOUR,
    HardwarePrice,
    TokenPrice,
    hardware_price,
    pareto_frontier,
    time_cost,
    token_cost,
)
from gapbench.store.records import RunInfo, RunMeasures, RunRow, SampleKey, SampleRecord


def test_price_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    monkeypatch.delenv("GAPBENCH_USD_PER_HOUR", raising=False)
    assert hardware_price(paths=[config]) == HardwarePrice(DEFAULT_USD_PER_HOUR, "default")
    config.write_text("usd_per_hour = 0.5\n")
    assert hardware_price(paths=[config]) == HardwarePrice(0.5, str(config))
    monkeypatch.setenv("GAPBENCH_USD_PER_HOUR", "1.25")
    assert hardware_price(paths=[config]) == HardwarePrice(1.25, "env")
    assert hardware_price(2.0, paths=[config]) == HardwarePrice(2.0, "flag")


@pytest.mark.parametrize("content", ["usd_per_hour = 'cheap'\n", "usd_per_hour = \n", "x = [\n"])
def test_bad_config_is_a_usage_error(
    tmp_path: Path, content: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAPBENCH_USD_PER_HOUR", raising=False)
    config = tmp_path / "config.toml"
    config.write_text(content)
    with pytest.raises(UsageError, match=r"config\.toml"):
        hardware_price(paths=[config])


def test_bad_env_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAPBENCH_USD_PER_HOUR", "-1")
    with pytest.raises(UsageError, match="GAPBENCH_USD_PER_HOUR"):
        hardware_price(paths=[])
    monkeypatch.setenv("GAPBENCH_USD_PER_HOUR", "abc")
    with pytest.raises(UsageError, match="GAPBENCH_USD_PER_HOUR"):
        hardware_price(paths=[])


def test_cost_arithmetic() -> None:
    assert time_cost(3600, HardwarePrice(0.36, "flag")) == pytest.approx(0.36)
    # 1M input at $0.27 and 1M output at $1.10 (per-million list prices).
    assert token_cost(1_000_000, 500_000, TokenPrice(0.27, 1.10)) == pytest.approx(0.27 + 0.55)


def test_pareto_frontier() -> None:
    points = [("a", 0.9, 3.0), ("b", 0.8, 1.0), ("c", 0.7, 2.0), ("d", 0.9, 3.0), ("e", 0.5, 0.5)]
    # c is dominated by b (better and cheaper); a and d tie and do not dominate each other.
    assert pareto_frontier(points) == {"a", "b", "d", "e"}


def _run(run_id: int, batch: int, seconds: float | None, backend: str = "llamacpp") -> RunRow:
    info = RunInfo(
        gapbench_version="0",
        model_id="m",
        backend=backend,
        engine_version="x",
        sampling={},
        settings_hash="h",
        batch_size=batch,
    )
    measures = None if seconds is None else RunMeasures(seconds, 100.0)
    return RunRow(id=run_id, info=info, status="completed", finished_at=1.0, measures=measures)


def _sample(run_id: int, latency: float, index: int = 0) -> SampleRecord:
    key = SampleKey("m", "arith", "1", 0, index, "easy", "h")
    return SampleRecord(
        key=key, run_id=run_id, prompt="p", output="o", reasoning=None, extracted="1",
        extraction_ok=True, correct=True, reference="1", prompt_tokens=10, completion_tokens=20,
        finish_reason="stop", ttft_s=0.1, latency_s=latency, error=None,
    )  # fmt: skip


def test_parallel_latencies_are_scaled_to_the_run_wall_time() -> None:
    # Four overlapping 2 s requests that took 2.5 s of wall time together.
    runs = account_runs([_run(1, 4, 2.5)], {1: 8.0}, billing_of)
    acct = Accounting(runs=runs, hardware=HardwarePrice(3.6, "flag"))
    samples = [_sample(1, 2.0, i) for i in range(4)]
    assert sum(acct.wall_seconds(s) for s in samples) == pytest.approx(2.5)
    assert sum(acct.cost_usd(s) or 0 for s in samples) == pytest.approx(2.5 * 3.6 / 3600)
    assert acct.peak_rss_mb("m") == 100.0


def test_killed_run_assumes_a_full_batch() -> None:
    runs = account_runs([_run(1, 4, None)], {1: 8.0}, billing_of)
    assert Accounting(runs=runs).wall_seconds(_sample(1, 2.0)) == pytest.approx(0.5)


def test_api_samples_cost_their_tokens() -> None:
    runs = account_runs([_run(1, 1, 10.0, backend="openai")], {1: 10.0}, billing_of)
    acct = Accounting(runs=runs, hardware=HardwarePrice(100.0, "flag"))
    assert acct.cost_usd(_sample(1, 10.0)) is None  # no list price known
    priced = Accounting(runs=runs, token_prices={"m": TokenPrice(1.0, 2.0)})
    assert priced.cost_usd(_sample(1, 10.0)) == pytest.approx((10 * 1.0 + 20 * 2.0) / 1e6)


def test_configured_token_prices_more_specific_file_wins(tmp_path: Path) -> None:
    from gapbench.perf.cost import TokenPrice, configured_token_prices

    local, user = tmp_path / "gapbench.toml", tmp_path / "config.toml"
    user.write_text(
        '[prices."a/x"]\ninput_per_mtok = 1\noutput_per_mtok = 2\n'
        '[prices."b/y"]\ninput_per_mtok = 0.5\noutput_per_mtok = 0\n'
    )
    local.write_text('[prices."a/x"]\ninput_per_mtok = 3.5\noutput_per_mtok = 7\n')
    assert configured_token_prices([local, user]) == {
        "a/x": TokenPrice(3.5, 7.0),
        "b/y": TokenPrice(0.5, 0.0),
    }
    assert configured_token_prices([tmp_path / "absent.toml"]) == {}
    for bad in ("prices = 3\n", '[prices."a/x"]\ninput_per_mtok = -1\noutput_per_mtok = 1\n'):
        local.write_text(bad)
        with pytest.raises(UsageError, match="prices"):
            configured_token_prices([local])
