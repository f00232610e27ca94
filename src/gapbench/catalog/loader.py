"""Load the catalog (models.toml, package data) and resolve what users type as a model."""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qsl

from gapbench.catalog.types import ModelKind, ModelSpec
from gapbench.errors import UsageError, closest

SCRIPTED_PREFIX = "scripted:"


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


HF_PREFIX = "hf:"


def resolve_model(ref: str) -> ModelSpec:
    """Turn a catalog id, a .gguf path, 'scripted:<name>[?k=v&...]', a provider model
    ('deepseek/deepseek-chat'), 'openai:URL#model' or 'hf:PATH' (a transformers model directory
    or GGUF file, or a Hub repository id 'Org/Name[@revision]', run with transformers) into a
    ModelSpec."""
    from gapbench.catalog import providers

    ref = ref.strip()
    if ref.startswith(SCRIPTED_PREFIX):
        return _scripted_spec(ref)
    if ref.startswith(providers.OPENAI_PREFIX):
        return providers.openai_spec(ref)
    if ref.startswith(HF_PREFIX):
        from gapbench.backends.transformers_files import hf_model_spec

        return hf_model_spec(ref.removeprefix(HF_PREFIX))
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
    raise UsageError(
        f"Unknown model {ref!r}.{closest(ref, [*catalog, *providers.provider_model_ids()])} "
        "Run `gapbench models list` to see all."
    )


def stored_origin(model_id: str) -> tuple[str, dt.date | None]:
    """(origin, release date) of a model id as results store it: from the catalog, a provider
    entry, or a scripted ref's options; ('unknown', None) for anything else (local files, ad-hoc
    endpoints, Hub models). Reads only package data, never the network or the environment."""
    from gapbench.catalog.providers import load_providers

    if model_id.startswith(SCRIPTED_PREFIX):
        try:
            spec = _scripted_spec(model_id)
        except UsageError:
            return ("unknown", None)
        return (spec.origin, spec.release_date)
    listed = load_catalog().get(model_id)
    if listed is not None:
        return (listed.origin, listed.release_date)
    head, slash, _ = model_id.partition("/")
    provider = load_providers().get(head) if slash else None
    return (provider.origin, None) if provider is not None else ("unknown", None)


def _scripted_spec(ref: str) -> ModelSpec:
    """A deterministic test backend; its options travel in the id and are parsed by the backend."""
    name, _, query = ref[len(SCRIPTED_PREFIX) :].partition("?")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise UsageError(
            f"Bad scripted model {ref!r}: write scripted:<name>[?key=value&...], "
            "with a name of letters, digits, '.', '_' or '-'."
        )
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError:
        raise UsageError(
            f"Bad options in scripted model {ref!r}: write key=value pairs joined by '&'."
        ) from None
    options = dict(pairs)
    kind: ModelKind = "base" if options.get("kind") == "base" else "instruct"
    return ModelSpec(
        id=ref,
        display_name=ref,
        family="scripted",
        organisation="gapbench",
        origin=_scripted_origin(options.get("origin"), ref),
        params=0,
        kind=kind,
        license="Apache-2.0",
        release_date=_scripted_release(options.get("released"), ref),
        context_length=1_000_000,
        quantization="none",
        backend="scripted",
    )


def _scripted_origin(value: str | None, ref: str) -> str:
    """'origin=CN' of a scripted ref, as the catalog writes origins: a country code."""
    if value is None:
        return "unknown"
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise UsageError(
            f"Bad origin {value!r} in scripted model {ref!r}: give a two-letter country code, "
            "e.g. origin=CN."
        )
    return value.upper()


def _scripted_release(value: str | None, ref: str) -> dt.date | None:
    """'released=2025-01-20' of a scripted ref."""
    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:  # 2025-02-30
            pass
    raise UsageError(
        f"Bad release date {value!r} in scripted model {ref!r}: write it as YYYY-MM-DD, "
        "e.g. released=2025-01-20."
    )


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
