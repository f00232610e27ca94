"""Token prices and their sources (perf/prices.py): the user's config over the catalog's verified
prices over genai-prices, matched by API URL and model name; time-of-day, tiered and dated prices
read honestly; shown in `models list` and stored with each run. Rates are checked against
genai-prices' own `calc_price`, an independent path through the library."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from tests.backends.fault_server import FaultServer
from tests.helpers import CliInvoke

from gapbench.backends.references import resolve_model
from gapbench.catalog.providers import list_provider_models
from gapbench.catalog.types import ModelSpec
from gapbench.perf import prices
from gapbench.perf.cost import configured_price_sources
from gapbench.perf.prices import library_price, list_prices, model_price, run_price

genai_prices = pytest.importorskip("genai_prices", reason="needs gapbench[prices]")

EXPECTED_ORIGIN = {
    "deepseek/deepseek-chat": "catalog",
    "deepseek/deepseek-reasoner": "catalog",
    "moonshot/kimi-k2-0905-preview": "genai-prices",
    "moonshot/kimi-k2-thinking": "genai-prices",
    "zhipu/glm-4.5-air": "genai-prices",
    "minimax/MiniMax-M2": "genai-prices",
    "openai/gpt-4o-mini": "genai-prices",
    "openai/gpt-4.1": "genai-prices",
    "openai/gpt-4.1-mini": "genai-prices",
    "openai/o4-mini": "genai-prices",
    "openai/gpt-5-mini": "genai-prices",
}
"""Every listed API model with a price, and where it comes from; the others have none: Qwen (only
OpenRouter's resale prices in genai-prices), Doubao and ERNIE (not covered), GLM-4.6 (covered on
Z.ai's endpoint only, not the mainland one the catalog calls)."""


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No gapbench.toml or ~/.config/gapbench/config.toml but the ones a test writes."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("DEEPSEEK_BASE_URL", "OPENAI_BASE_URL", "ZHIPUAI_BASE_URL", "MOONSHOT_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def _library_cost(spec: ModelSpec, inputs: int, outputs: int, when: dt.datetime) -> Decimal:
    assert spec.api is not None
    usage = genai_prices.Usage(input_tokens=inputs, output_tokens=outputs)
    calc = genai_prices.calc_price(
        usage, spec.api.model, provider_api_url=spec.api.base_urls[0], genai_request_timestamp=when
    )
    return Decimal(calc.total_price)


def test_each_catalog_api_model_is_priced_by_the_source_that_covers_it() -> None:
    noon = dt.datetime.now(dt.UTC).replace(hour=12, minute=0)
    specs = [s for s in list_provider_models() if not s.id.endswith("<model>")]
    origins = {}
    for spec in specs:
        quote = model_price(spec, {})
        origins[spec.id] = quote.origin.split()[0] if quote else None
        if quote is None or quote.origin == "catalog":
            continue
        assert quote.source.startswith("https://") and quote.origin.startswith("genai-prices 0.")
        # The quoted rates give genai-prices' own figure for a short prompt.
        cost = (1000 * quote.input_per_mtok + 500 * quote.output_per_mtok) / 1e6
        assert cost == pytest.approx(float(_library_cost(spec, 1000, 500, noon)), rel=1e-9)
    assert {k: v for k, v in origins.items() if v} == EXPECTED_ORIGIN
    assert set(list_prices()) == set(EXPECTED_ORIGIN)
    moonshot = library_price(resolve_model("moonshot/kimi-k2-thinking"))
    assert moonshot is not None and "deprecated" in moonshot.note


def test_time_of_day_prices_are_charged_at_the_peak_rate() -> None:
    spec = resolve_model("openai:https://api.deepseek.com/v1#deepseek-chat")  # no catalog price
    day = dt.datetime.now(dt.UTC).date()
    quote = library_price(spec, day)
    assert quote is not None and quote.note.startswith("peak-hour rate")
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    costs = [_library_cost(spec, 10**6, 0, start + dt.timedelta(minutes=30 * h)) for h in range(48)]
    assert len(set(costs)) > 1  # the rate really changes during the day
    assert quote.input_per_mtok == pytest.approx(float(max(costs)))


def test_tiered_prices_use_the_rate_of_short_prompts() -> None:
    from genai_prices.data_snapshot import get_snapshot
    from genai_prices.types import TieredPrices

    now = dt.datetime.now(dt.UTC)
    [openai] = [p for p in get_snapshot().providers if p.id == "openai"]
    tiered = next(
        (m for m in openai.models if isinstance(m.get_prices(now).input_mtok, TieredPrices)), None
    )
    if tiered is None:
        pytest.skip("this genai-prices release has no tiered OpenAI price")
    spec = resolve_model(f"openai:https://api.openai.com/v1#{tiered.id}")
    quote = library_price(spec)
    assert quote is not None and "input tokens (higher above)" in quote.note
    first_tier = tiered.get_prices(now).input_mtok.tiers[0]  # type: ignore[union-attr]
    short = _library_cost(spec, 1000, 0, now) * 1000  # $ per 1M tokens at a short prompt
    long = _library_cost(spec, first_tier.start + 1, 0, now) / (first_tier.start + 1) * 10**6
    assert quote.input_per_mtok == pytest.approx(float(short)) and long > short


def test_a_dated_price_change_gives_its_date() -> None:
    from genai_prices.data_snapshot import get_snapshot
    from genai_prices.types import StartDateConstraint

    [deepseek] = [p for p in get_snapshot().providers if p.id == "deepseek"]
    dated = [
        (m, c.constraint.start_date)
        for m in deepseek.models
        if isinstance(m.prices, list)
        for c in m.prices
        if isinstance(c.constraint, StartDateConstraint)
    ]
    if not dated:
        pytest.skip("this genai-prices release has no dated DeepSeek price")
    model, changed = max(dated, key=lambda d: d[1])
    spec = resolve_model(f"openai:https://api.deepseek.com/v1#{model.id}")
    after = library_price(spec, changed)
    before = library_price(spec, changed - dt.timedelta(days=1))
    assert after is not None and after.date == changed
    assert before is not None and (before.date or dt.date.min) < changed


def test_the_url_decides_who_charges(monkeypatch: pytest.MonkeyPatch) -> None:
    # A model of the same name on your own server is not charged OpenAI's price.
    assert library_price(resolve_model("openai:http://127.0.0.1:8000/v1#gpt-4o-mini")) is None
    assert library_price(resolve_model("vllm/gpt-4o-mini")) is None
    assert library_price(resolve_model("zhipu/glm-4.6")) is None  # mainland endpoint
    monkeypatch.setenv("ZHIPUAI_BASE_URL", "https://api.z.ai/api/paas/v4")
    zai = library_price(resolve_model("zhipu/glm-4.6"))
    assert zai is not None and "z.ai" in zai.source
    # A proxy named in OPENAI_BASE_URL: the catalog entry's declared provider still applies.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    proxied = library_price(resolve_model("openai/gpt-4o-mini"))
    assert proxied is not None and "openai.com" in proxied.source


def test_config_overrides_catalog_overrides_library(tmp_path: Path) -> None:
    spec = resolve_model("deepseek/deepseek-chat")
    config = tmp_path / "gapbench.toml"
    config.write_text(
        '[prices."deepseek/deepseek-chat"]\ninput_per_mtok = 9\noutput_per_mtok = 8\n'
    )
    configured = model_price(spec, configured_price_sources([config]))
    assert configured is not None and (configured.origin, configured.source) == (
        "config",
        str(config),
    )
    assert configured.token_price().input_per_mtok == 9.0
    catalog = model_price(spec, {})
    library = library_price(spec)
    assert catalog is not None and catalog.origin == "catalog"
    assert catalog.date == dt.date(2025, 9, 5) and "deepseek.com" in catalog.source
    assert library is not None and library.input_per_mtok != catalog.input_per_mtok


def test_without_genai_prices_the_reason_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prices, "library_version", lambda: None)
    assert library_price(resolve_model("openai/gpt-4o-mini")) is None
    [(_, provenance)] = run_price(resolve_model("qwen/qwen-max")).items()
    assert isinstance(provenance, dict) and provenance["origin"] is None
    assert "pip install 'gapbench[prices]'" in provenance["note"]
    assert run_price(resolve_model("scripted:a")) == {}  # local models: charged by time


def test_models_list_shows_price_source_and_date(cli: CliInvoke) -> None:
    listed = cli("models", "list", "--json")
    assert listed.exit_code == 0, listed.output
    by_id = {m["id"]: m for m in json.loads(listed.output)}
    deepseek = by_id["deepseek/deepseek-chat"]["price"]
    assert (deepseek["origin"], deepseek["date"]) == ("catalog", "2025-09-05")
    gpt = by_id["openai/gpt-4o-mini"]["price"]
    assert gpt["origin"].startswith("genai-prices") and "openai.com" in gpt["source"]
    assert by_id["qwen/qwen-max"]["price"] is None
    assert by_id["smollm2-135m-instruct"]["price"] is None
    table = cli("models", "list", env={"COLUMNS": "260"})
    rows = {line.split()[0]: line for line in table.output.splitlines() if line.strip()}
    assert "0.56/1.68" in rows["deepseek/deepseek-chat"] and "catalog 2025-09-05" in table.output
    assert (
        "none known" in rows["qwen/qwen-max"] and "genai-prices undated" in rows["openai/gpt-4.1"]
    )


@pytest.mark.network
def test_runs_store_the_price_and_the_leaderboard_charges_it(
    cli: CliInvoke, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FaultServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        run = ["--task", "arith", "--n", "4", "--db", str(db)]
        monkeypatch.setenv("DASHSCOPE_BASE_URL", server.url)
        monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test")
        priced = cli("run", "--model", "openai/gpt-4o-mini", *run)
        unpriced = cli("run", "--model", "qwen/qwen-max", *run)
    assert priced.exit_code == 0 and unpriced.exit_code == 0, priced.output + unpriced.output
    with sqlite3.connect(db) as conn:
        runs = dict(conn.execute("SELECT model_id, sampling FROM runs").fetchall())
        tokens = conn.execute(
            "SELECT SUM(prompt_tokens), SUM(completion_tokens) FROM samples "
            "WHERE model_id = 'openai/gpt-4o-mini'"
        ).fetchone()
    stored = json.loads(runs["openai/gpt-4o-mini"])["price"]
    assert stored["origin"].startswith("genai-prices") and "openai.com" in stored["source"]
    assert json.loads(runs["qwen/qwen-max"])["price"]["origin"] is None
    board = cli("leaderboard", "--json", "--db", str(db))
    rows = {(r["model"], r["task"]): r for r in json.loads(board.output)}
    expected = _library_cost(
        resolve_model("openai:https://api.openai.com/v1#gpt-4o-mini"),
        *tokens,
        dt.datetime.now(dt.UTC),
    )
    assert rows[("openai/gpt-4o-mini", "overall")]["cost_usd"] == pytest.approx(float(expected))
    assert rows[("qwen/qwen-max", "overall")]["cost_usd"] is None
