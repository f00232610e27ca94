"""Which token price an API model is charged at, and where that price comes from.

Three sources, most specific first:

1. the user's `[prices."MODEL-ID"]` in gapbench.toml or ~/.config/gapbench/config.toml (cost.py);
2. the catalog's verified price (providers.toml: copied from the provider's own page, with its
   date);
3. genai-prices (Pydantic's maintained price table, the optional extra `gapbench[prices]`), read
   offline from the installed package, never updated over the network. A model is matched by
   the API URL it is called at (genai-prices' own provider patterns, so a self-hosted server is
   never charged a cloud provider's price) and the model name the API expects.

Where none has a price the cost is unknown, and said so. genai-prices' prices can vary: by the
time of day (DeepSeek's off-peak hours), by prompt length (tiers), by date (a price change). One
figure per model is charged here: the rate in force today, at the busiest hour (the highest rate
of the day, so a cost is never understated), below the first length tier (gapbench's prompts are
short); the note of each quote says which of these applied.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gapbench.perf.cost import TokenPrice

if TYPE_CHECKING:
    from collections.abc import Mapping

    from genai_prices.types import ModelInfo, ModelPrice

    from gapbench.catalog.types import ModelSpec

LIBRARY = "genai-prices"
INSTALL_HINT = "pip install 'gapbench[prices]'"


@dataclass(frozen=True)
class PriceQuote:
    """One model's price per million tokens, with where and when it was published."""

    input_per_mtok: float
    output_per_mtok: float
    origin: str
    """'config', 'catalog', or 'genai-prices X.Y.Z' (the installed version)."""
    source: str
    """The config file, or the provider's price page."""
    date: dt.date | None = None
    """When the price took effect (or was read, for the catalog); None when the source gives no
    date."""
    currency: str = "USD"
    note: str = ""
    """What was chosen among varying rates (peak hour, base tier), or that the model is
    deprecated."""
    comments: str = ""
    """The source's own remarks on the price (genai-prices' price_comments: a currency
    conversion, tiers it leaves out...), for JSON and provenance."""

    def token_price(self) -> TokenPrice:
        return TokenPrice(self.input_per_mtok, self.output_per_mtok)

    def as_dict(self) -> dict[str, Any]:
        """For JSON and run provenance."""
        record = asdict(self)
        record["date"] = self.date.isoformat() if self.date else None
        return record


def model_price(
    spec: ModelSpec, configured: Mapping[str, tuple[TokenPrice, Path]] | None = None
) -> PriceQuote | None:
    """The price `spec` is charged at: the user's config, else the catalog's, else genai-prices'
    (None: no source has one). `configured` defaults to the config files' `[prices]`."""
    from gapbench.perf.cost import configured_price_sources

    entries = configured_price_sources() if configured is None else configured
    if spec.id in entries:
        price, path = entries[spec.id]
        return PriceQuote(price.input_per_mtok, price.output_per_mtok, "config", str(path))
    return listed_price(spec)


def listed_price(spec: ModelSpec) -> PriceQuote | None:
    """The published price of an API model: the catalog's verified one, else genai-prices'."""
    return catalog_price(spec) or library_price(spec)


def catalog_price(spec: ModelSpec) -> PriceQuote | None:
    price = spec.price
    if price is None or price.input_per_mtok is None or price.output_per_mtok is None:
        return None
    return PriceQuote(
        price.input_per_mtok,
        price.output_per_mtok,
        "catalog",
        price.source or "providers.toml",
        price.date,
        price.currency,
    )


def run_price(spec: ModelSpec) -> dict[str, object]:
    """The price of an API model's run, for its provenance (`runs.sampling`): {'price': ...},
    with the reason when there is none; {} for local models (no API endpoint), charged by time at
    report time."""
    if spec.api is None:
        return {}
    quote = model_price(spec)
    if quote is not None:
        return {"price": quote.as_dict()}
    return {"price": {"origin": None, "note": no_price_reason()}}


def no_price_reason() -> str:
    """Why a model has no price, and how to give it one."""
    where = "genai-prices" if library_version() else f"genai-prices (not installed: {INSTALL_HINT})"
    return (
        f"no price in the config, the catalog or {where}: set one under "
        '[prices."MODEL-ID"] in gapbench.toml'
    )


@functools.cache
def library_version() -> str | None:
    """The installed genai-prices version, or None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(LIBRARY)
    except PackageNotFoundError:
        return None


def library_price(spec: ModelSpec, today: dt.date | None = None) -> PriceQuote | None:
    """genai-prices' price for an API model at its first base URL, on `today` (default: now)."""
    if spec.api is None or library_version() is None:
        return None
    from gapbench.catalog.credentials import public_url

    day = today or dt.datetime.now(dt.UTC).date()
    declared = None
    if spec.provider is not None:
        from gapbench.catalog.providers import load_providers

        entry = load_providers().get(spec.provider)
        declared = entry.genai_prices_provider if entry is not None else None
    return _library_price(public_url(spec.api.base_urls[0]), spec.api.model, declared, day)


@functools.cache
def _library_price(
    url: str, model_ref: str, declared: str | None, day: dt.date
) -> PriceQuote | None:
    """The URL says which provider serves the model (so api.z.ai and open.bigmodel.cn get their
    own prices); a catalog entry's declared provider covers a URL no pattern knows (a proxy)."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    try:
        provider, model = snapshot.find_provider_model(model_ref, None, None, url)
    except LookupError:  # no provider serves this URL, or it lists no such model
        if declared is None:
            return None
        try:
            provider, model = snapshot.find_provider_model(model_ref, None, declared, None)
        except LookupError:
            return None
    rates = _day_rates(model, day)
    if rates is None:
        return None
    (input_rate, output_rate), notes = rates
    if model.deprecated:
        notes.append("deprecated by the provider")
    pages = provider.pricing_urls or [provider.name]
    return PriceQuote(
        float(input_rate),
        float(output_rate),
        f"{LIBRARY} {library_version()}",
        next((u for u in pages if "pric" in u), pages[0]),
        _changed_on(model, day),
        note="; ".join(notes),
        comments=" ".join(c for c in (provider.price_comments, model.price_comments) if c),
    )


def _day_rates(model: ModelInfo, day: dt.date) -> tuple[tuple[Decimal, Decimal], list[str]] | None:
    """The highest (input, output) rates in force at any half hour of `day`, with notes on what
    varied; None when the model has no token price (an embedding or audio model)."""
    seen: list[tuple[Decimal, Decimal]] = []
    tiers: set[str] = set()
    for half_hours in range(48):
        moment = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(minutes=30 * half_hours)
        price = model.get_prices(moment)
        rates = _base_rate(price, "input_mtok", tiers), _base_rate(price, "output_mtok", tiers)
        if rates[0] is None or rates[1] is None:
            return None
        seen.append((rates[0], rates[1]))
    peak = max(r[0] for r in seen), max(r[1] for r in seen)
    notes = []
    if len(set(seen)) > 1:
        low = min(r[0] for r in seen), min(r[1] for r in seen)
        notes.append(f"peak-hour rate; ${low[0]:g}/${low[1]:g} at other hours of the day (UTC)")
    notes += sorted(tiers)
    return peak, notes


def _base_rate(price: ModelPrice, key: str, tiers: set[str]) -> Decimal | None:
    """A rate per million tokens; of a tiered price, the base rate, noting where it rises."""
    from genai_prices.types import TieredPrices

    value = getattr(price, key)
    if isinstance(value, TieredPrices):
        if value.tiers:
            start = value.tiers[0].start
            tiers.add(f"rate of prompts up to {start:,} input tokens (higher above)")
        return value.base
    return value if isinstance(value, Decimal) else None


def _changed_on(model: ModelInfo, day: dt.date) -> dt.date | None:
    """The latest date genai-prices says the model's price changed, up to `day`."""
    from genai_prices.types import StartDateConstraint

    if not isinstance(model.prices, list):
        return None
    starts = [
        c.constraint.start_date
        for c in model.prices
        if isinstance(c.constraint, StartDateConstraint) and c.constraint.start_date <= day
    ]
    return max(starts, default=None)


def list_prices() -> dict[str, tuple[float, float]]:
    """(input, output) USD price per 1M tokens of every listed API model that has one, by model
    id ('provider/model'): the catalog's verified price, else genai-prices'."""
    from gapbench.catalog.providers import list_provider_models

    prices = {}
    for spec in list_provider_models():
        quote = listed_price(spec)
        if quote is not None:
            prices[spec.id] = (quote.input_per_mtok, quote.output_per_mtok)
    return prices
