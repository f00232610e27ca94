"""What users type as a model -> its ModelSpec.

A reference with a backend's prefix ('scripted:', 'openai:', 'hf:', or a plugin's) goes to that
backend's resolver (backends/registry.py); anything else is a catalog id, a .gguf path or a
provider model ('deepseek/deepseek-chat', 'vllm/<any served model>'), looked up in the catalog.
References written the way other tools write them either resolve (Inspect's `hf/Org/Name`) or
get one sentence naming the gapbench form (a bare Hub id, Inspect's `openai-api/...`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from gapbench.backends.registry import backend_entries, load_target
from gapbench.errors import UsageError, closest

if TYPE_CHECKING:
    from gapbench.backends.registry import BackendEntry
    from gapbench.catalog.types import ModelSpec

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
"""'Org/Name' as the Hugging Face Hub writes repository ids."""


def backend_of_reference(ref: str) -> BackendEntry | None:
    """The backend whose prefix `ref` starts with (Inspect's 'hf/' counts as 'hf:'), or None
    for catalog ids, .gguf paths and provider models."""
    ref = ref.strip()
    if ref.startswith("hf/"):
        ref = "hf:" + ref.removeprefix("hf/")
    return _prefixed(ref)


def _prefixed(ref: str) -> BackendEntry | None:
    for entry in backend_entries():
        if entry.prefix and ref.startswith(entry.prefix):
            return entry
    return None


def resolve_model(ref: str) -> ModelSpec:
    """The ModelSpec of a model reference; UsageError naming the right form otherwise."""
    from gapbench.catalog.loader import known_model_ids, resolve_catalog_model

    ref = ref.strip()
    entry = _prefixed(ref)
    if entry is not None and entry.resolver is not None:
        spec: ModelSpec = load_target(entry.resolver)(ref)
        return spec
    if ref.startswith("hf/"):  # Inspect's form of a Hub model run with transformers
        return resolve_model("hf:" + ref.removeprefix("hf/"))
    spec_or_none = resolve_catalog_model(ref)
    if spec_or_none is not None:
        return spec_or_none
    raise UsageError(_unknown(ref, known_model_ids()))


def _unknown(ref: str, known: list[str]) -> str:
    hint = _other_tools_form(ref)
    if hint:
        return f"Unknown model {ref!r}: {hint}"
    return f"Unknown model {ref!r}.{closest(ref, known)} Run `gapbench models list` to see all."


def _other_tools_form(ref: str) -> str | None:
    """The gapbench form of a reference written as another tool writes it, or None."""
    from gapbench.catalog.loader import list_models
    from gapbench.catalog.providers import load_providers

    if ref.startswith("openai-api/"):  # Inspect: openai-api/<service>/<model>
        service, _, model = ref.removeprefix("openai-api/").partition("/")
        if service in load_providers():
            return f"gapbench calls this provider model {service}/{model}."
        var = re.sub(r"\W", "_", service).upper()
        return (
            f"that is Inspect's form; in gapbench write openai:URL#{model}?key_env={var}_API_KEY, "
            f"with URL the endpoint ${var}_BASE_URL holds (e.g. http://127.0.0.1:8000/v1)."
        )
    if _HUB_ID.fullmatch(ref):
        for spec in list_models():
            hub = {
                s.repo.lower().removesuffix("-gguf")
                for s in spec.sources
                if s.type == "huggingface"
            }
            if ref.lower() in hub:
                return (
                    f"this Hugging Face Hub model is in the catalog as {spec.id} (a GGUF build "
                    f"run with llama.cpp); or write hf:{ref} to run the Hub checkpoint with "
                    "transformers."
                )
        return (
            f"it looks like a Hugging Face Hub id; write hf:{ref} to run it with transformers "
            "(pip install 'gapbench[hf]'), or pass a .gguf file."
        )
    return None


def stored_origin(model_id: str) -> tuple[str, dt.date | None]:
    """(origin, release date) of a model id as results store it: from the catalog, a provider
    entry, or the id itself where its backend's references carry them (scripted's origin= and
    released=); ('unknown', None) for anything else (local files, ad-hoc endpoints, Hub models).
    Reads only package data and the id, never the network or the environment."""
    from gapbench.catalog.loader import catalog_origin

    entry = _prefixed(model_id)
    if entry is not None:
        if not entry.origin_offline or entry.resolver is None:
            return ("unknown", None)
        try:
            spec: ModelSpec = load_target(entry.resolver)(model_id)
        except UsageError:
            return ("unknown", None)
        return (spec.origin, spec.release_date)
    return catalog_origin(model_id) or ("unknown", None)
