"""What a result cost: measured time times a hardware price for local models, reported token
usage times a list price for API models.

The hardware price is configurable, most specific first: the `--usd-per-hour` flag, the
GAPBENCH_USD_PER_HOUR environment variable, `usd_per_hour` in gapbench.toml (current directory)
or ~/.config/gapbench/config.toml, else DEFAULT_USD_PER_HOUR.

API token prices come from the provider catalog where it has a verified one, else from the
genai-prices package where it has one (perf/prices.py); a `[prices]` table in the same config
files sets or overrides them per model id, so a user with a contract price, or a provider no
source has a price for, still gets dollar figures:

    [prices."qwen/qwen-plus"]
    input_per_mtok = 0.4
    output_per_mtok = 1.2
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gapbench.errors import UsageError

DEFAULT_USD_PER_HOUR = 0.10
"""A round figure for the kind of machine gapbench's defaults target: a 2-vCPU cloud VM (AWS's
c7i.large, 2 vCPU and 4 GiB, lists at about $0.09/hour on demand). Set your own with the flag,
environment variable or config file: the figure only scales the dollar columns."""

ENV_VAR = "GAPBENCH_USD_PER_HOUR"


@dataclass(frozen=True)
class HardwarePrice:
    usd_per_hour: float
    source: str
    """Where the figure came from: 'flag', 'env', a config file path, or 'default'."""


def config_paths() -> list[Path]:
    return [Path("gapbench.toml"), Path.home() / ".config" / "gapbench" / "config.toml"]


def _configs(paths: Sequence[Path] | None) -> list[tuple[Path, dict[str, object]]]:
    """The config files that exist, parsed, most specific first."""
    found = []
    for path in config_paths() if paths is None else paths:
        if not path.is_file():
            continue
        try:
            found.append((path, tomllib.loads(path.read_text("utf-8"))))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path} is not valid TOML ({exc}): fix or remove it.") from None
    return found


def _check(value: float, where: str) -> float:
    if value < 0 or value != value:  # NaN never equals itself
        raise UsageError(f"The hardware price from {where} must be a non-negative number.")
    return value


def hardware_price(flag: float | None = None, paths: Sequence[Path] | None = None) -> HardwarePrice:
    """The $/hour to charge local generation time, with where it came from."""
    if flag is not None:
        return HardwarePrice(_check(flag, "--usd-per-hour"), "flag")
    raw = os.environ.get(ENV_VAR)
    if raw:
        try:
            return HardwarePrice(_check(float(raw), ENV_VAR), "env")
        except ValueError:
            raise UsageError(
                f"{ENV_VAR} must be a number of dollars per hour, not '{raw}'."
            ) from None
    for path, config in _configs(paths):
        value = config.get("usd_per_hour")
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise UsageError(f"usd_per_hour in {path} must be a number, not {value!r}.")
        return HardwarePrice(_check(float(value), str(path)), str(path))
    return HardwarePrice(DEFAULT_USD_PER_HOUR, "default")


@dataclass(frozen=True)
class TokenPrice:
    """An API's list price per million tokens."""

    input_per_mtok: float
    output_per_mtok: float


def configured_token_prices(paths: Sequence[Path] | None = None) -> dict[str, TokenPrice]:
    """Token prices set in the config files' `[prices]` tables, by model id; a more specific
    file wins for a model both name."""
    return {model: price for model, (price, _) in configured_price_sources(paths).items()}


def token_prices() -> dict[str, TokenPrice]:
    """Token prices by model id: the catalog's verified list prices (else genai-prices'),
    overridden by `[prices]` in the config files."""
    from gapbench.perf.prices import list_prices

    listed = {model: TokenPrice(*price) for model, price in list_prices().items()}
    return {**listed, **configured_token_prices()}


def configured_price_sources(
    paths: Sequence[Path] | None = None,
) -> dict[str, tuple[TokenPrice, Path]]:
    """As configured_token_prices, with the file each price comes from."""
    prices: dict[str, tuple[TokenPrice, Path]] = {}
    for path, config in reversed(_configs(paths)):
        table = config.get("prices", {})
        if not isinstance(table, dict):
            raise UsageError(f"prices in {path} must be a table of model ids.")
        for model, entry in table.items():
            prices[model] = (_token_price(entry, f'[prices."{model}"] in {path}'), path)
    return prices


def _token_price(entry: object, where: str) -> TokenPrice:
    values = []
    for field in ("input_per_mtok", "output_per_mtok"):
        value = entry.get(field) if isinstance(entry, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
            raise UsageError(f"{where} needs {field} = a non-negative number of dollars.")
        values.append(float(value))
    return TokenPrice(*values)


def time_cost(seconds: float, price: HardwarePrice) -> float:
    """Dollars for `seconds` of the machine."""
    return seconds * price.usd_per_hour / 3600


def token_cost(prompt_tokens: int, completion_tokens: int, price: TokenPrice) -> float:
    """Dollars for one request's reported usage."""
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1e6


def pareto_frontier(points: Sequence[tuple[str, float, float]]) -> set[str]:
    """Names on the quality-vs-cost frontier of (name, quality, cost) points: no other point has
    quality at least as high and cost at least as low, with one of the two strictly better."""
    frontier = set()
    for name, quality, cost in points:
        dominated = any(
            q >= quality and c <= cost and (q > quality or c < cost)
            for other, q, c in points
            if other != name
        )
        if not dominated:
            frontier.add(name)
    return frontier
