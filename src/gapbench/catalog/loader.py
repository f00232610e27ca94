"""Load the catalog (models.toml, package data) and resolve what users type as a model."""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from importlib import resources
from pathlib import Path

from gapbench.catalog.types import ModelSpec
from gapbench.errors import UsageError


@functools.cache
def load_catalog() -> dict[str, ModelSpec]:
    """All catalog models by id, in file order (read once per process)."""
    text = resources.files("gapbench.catalog").joinpath("models.toml").read_text("utf-8")
    entries = tomllib.loads(text).get("models", [])
    catalog: dict[str, ModelSpec] = {}
    for entry in entries:
        spec = ModelSpec.model_validate(entry)
        # Two entries with one id would make results of different models share a name.
        if spec.id in catalog:
            raise ValueError(f"models.toml lists the model id {spec.id!r} twice")
        catalog[spec.id] = spec
    return catalog


def list_models() -> list[ModelSpec]:
    """The catalog models, in file order."""
    return list(load_catalog().values())


def resolve_catalog_model(ref: str) -> ModelSpec | None:
    """The spec of a catalog id, a .gguf path or a provider model ('deepseek/deepseek-chat'), or
    None when `ref` is none of these (references with a backend's prefix, such as 'scripted:' or
    'openai:', are resolved by gapbench.backends.references, which calls this for the rest)."""
    from gapbench.catalog import providers

    if ref.lower().endswith(".gguf"):
        return _local_spec(Path(ref).expanduser())
    catalog = load_catalog()
    spec = catalog.get(ref) or catalog.get(ref.lower())
    if spec is not None:
        return spec
    api_spec = providers.provider_spec(ref)
    if api_spec is not None:
        return api_spec
    path = Path(ref).expanduser()
    if ("/" in ref or "\\" in ref) and path.is_file():
        raise UsageError(
            f"{ref} is not a .gguf file: gapbench runs local models from GGUF files only."
        )
    return None


def known_model_ids() -> list[str]:
    """Catalog ids and provider model ids, for 'did you mean' hints."""
    from gapbench.catalog.providers import provider_model_ids

    return [*load_catalog(), *provider_model_ids()]


def catalog_origin(model_id: str) -> tuple[str, dt.date | None] | None:
    """(origin, release date) of a stored model id from the catalog or a provider entry; None
    when neither knows it. Reads only package data, never the network or the environment."""
    from gapbench.catalog.providers import load_providers

    listed = load_catalog().get(model_id)
    if listed is not None:
        return (listed.origin, listed.release_date)
    head, slash, _ = model_id.partition("/")
    provider = load_providers().get(head) if slash else None
    return (provider.origin, None) if provider is not None else None


def _local_spec(path: Path) -> ModelSpec:
    """Describe a GGUF file given by path, from its own metadata (reading the header only)."""
    from gapbench.catalog.gguf import validate_gguf

    if not path.is_file():
        raise UsageError(
            f"Model file {path} does not exist: check the path, or use a catalog id "
            "(`gapbench models list`)."
        )
    header = validate_gguf(path)
    metadata = header.metadata
    organisation = metadata.get("general.organization")
    license_name = metadata.get("general.license")
    return ModelSpec(
        id=_local_id(path),
        display_name=header.name or path.stem,
        family=header.architecture or "unknown",
        organisation=organisation if isinstance(organisation, str) else "unknown",
        origin="unknown",
        params=header.param_count,
        kind="instruct" if header.has_chat_template else "base",
        license=license_name if isinstance(license_name, str) else "unknown",
        context_length=header.context_length or 2048,
        quantization=header.quantization or "unknown",
        local_path=str(path.resolve()),
    )


def _local_id(path: Path) -> str:
    """An id from the file stem, kept apart from catalog ids so stored results never mix."""
    base = re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-") or "model"
    return f"{base}-local" if base in load_catalog() else base
