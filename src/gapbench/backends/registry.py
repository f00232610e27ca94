"""Backend lookup: a model's `backend` name -> a loaded Backend.

Registration is lazy: each entry names its factory as a "module:factory" string, so a backend's
module (and the heavy package behind it) is imported only when a model actually uses it. The
entries (built-in, then plugins' from the `gapbench.backends` entry-point group) are the single
source of truth for which backends exist and how callers treat them.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from gapbench.errors import BackendError, UsageError, closest

if TYPE_CHECKING:
    from gapbench.backends.base import Backend
    from gapbench.catalog.types import ModelSpec

DEFAULT_CONTEXT_PER_SEQUENCE = 2048
"""Tokens of context each request gets when the user does not say: prompts here are short, and a
bigger KV cache only costs memory."""


@dataclass(frozen=True)
class BackendOptions:
    """How to load a model. None means 'pick a sensible value for this machine and model'."""

    threads: int | None = None
    """CPU threads; None -> the number of physical cores."""
    batch_size: int | None = None
    """Requests decoded together (sequences sharing the KV cache); None -> the backend's own
    automatic choice (`resolved_batch_size`): llama.cpp batches 16, capped by KV memory; backends
    that do not batch use 1."""
    n_ctx: int | None = None
    """Context window of ONE request (prompt + completion) in tokens; None -> 2048 capped by the
    model's trained context. A batching engine allocates n_ctx * batch_size in total."""
    seed: int = 0
    verbose: bool = False
    """Let the engine print its own logs (llama.cpp load messages) to stderr."""
    concurrency: int | None = None
    """Requests in flight at once for HTTP backends; None -> the model's catalog value or 16."""

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"threads must be at least 1 (got {self.threads}).")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"batch size must be at least 1 (got {self.batch_size}).")
        if self.n_ctx is not None and self.n_ctx < 16:
            raise UsageError(f"context size must be at least 16 tokens (got {self.n_ctx}).")
        if self.concurrency is not None and self.concurrency < 1:
            raise UsageError(f"concurrency must be at least 1 (got {self.concurrency}).")

    def resolved_threads(self) -> int:
        """Threads to use: the explicit value, else one per physical core."""
        from gapbench.backends.hardware import physical_cores

        return self.threads if self.threads is not None else physical_cores()

    def resolved_batch_size(self, automatic: int = 1) -> int:
        """The explicit batch size, else `automatic`: what the backend picks for itself (1 for a
        backend that does not batch)."""
        return self.batch_size if self.batch_size is not None else max(1, automatic)

    def context_per_sequence(self, spec: ModelSpec) -> int:
        """Tokens of context one request may use (prompt + completion)."""
        if self.n_ctx is not None:
            return self.n_ctx
        return max(16, min(DEFAULT_CONTEXT_PER_SEQUENCE, spec.context_length))


Weights = Literal["gguf-file", "model-directory", "none"]
"""What a backend runs locally: one GGUF file (found in the cache and fetched by `gapbench models
pull` or on first use), a model directory (a transformers checkpoint, downloaded when the model is
resolved), or nothing (a remote endpoint, or the scripted backend)."""

Billing = Literal["tokens", "time"]
"""How a run is charged: the provider's token price, or this machine's time (--usd-per-hour)."""


@dataclass(frozen=True)
class BackendEntry:
    """Everything callers outside backends/ need to know about one backend, so none of them tests
    a backend's name. A plugin package registers one of these under the `gapbench.backends`
    entry-point group (docs/adding-a-backend.md)."""

    name: str
    """Stored with every run (`runs.backend`) and named by a ModelSpec's `backend`."""
    target: str
    """'module:factory'; the factory is called as factory(spec, model_path, options)."""
    summary: str = ""
    prefix: str | None = None
    """Model references starting with this ('scripted:', 'openai:', 'hf:') belong to this
    backend; None for one reached only through the catalog (llama.cpp: ids and .gguf paths)."""
    resolver: str | None = None
    """'module:function' turning a reference that starts with `prefix` into its ModelSpec."""
    reference_form: str = ""
    """How users write its models, for `models list` ('hf:Org/Name or hf:PATH')."""
    path_references: bool = False
    """What follows the prefix may be a local path (hf:./my-model): a run file resolves it
    relative to the file's folder."""
    resolves_online: bool = False
    """Resolving a reference may ask a remote service (the Hub): a run file's check skips it,
    and the command resolves it once, right after."""
    origin_offline: bool = False
    """The resolver reads only the reference itself (no files, network or environment), so the
    origin and release date of a stored id can be read back from the id alone."""
    weights: Weights = "none"
    billing: Billing = "time"
    preflight: str | None = None
    """'module:function(spec)' run for every model before the first sample, so a problem a later
    model would hit (a missing API key, a local file that is not a GGUF) stops the run at once."""
    resources: Literal["cpu", "gpu", "none"] = "none"
    """What one loaded model holds on a Ray node (`run --ray`): its CPU threads (llama.cpp), a
    GPU (transformers, where the cluster has one), or next to nothing (a remote endpoint)."""
    requires: tuple[str, ...] = ()
    """Importable packages the backend needs, checked first so a missing one gets a clear hint
    (tests check this against what the backend's modules really import)."""
    extra: str | None = None
    """The `gapbench[...]` extra that installs `requires`."""
    source: str = "gapbench"
    """Where the entry came from: 'gapbench', or the plugin distribution ('name version')."""

    @property
    def install_hint(self) -> str:
        needs = " and ".join(self.requires)
        how = f"pip install 'gapbench[{self.extra}]'" if self.extra else f"pip install {needs}"
        return f"the {self.name} backend needs {needs}: {how}"

    @property
    def shows_pulled(self) -> bool:
        """Whether `models list` has a pulled/not-pulled answer for its models."""
        return self.weights == "gguf-file"


BUILTIN_BACKENDS: tuple[BackendEntry, ...] = (
    BackendEntry(
        "llamacpp",
        "gapbench.backends.llamacpp:create",
        summary="GGUF files through llama.cpp (llama-cpp-python), batched",
        reference_form="a catalog id or a .gguf path",
        weights="gguf-file",
        resources="cpu",
        preflight="gapbench.backends.llamacpp:preflight",
        requires=("llama_cpp",),
        extra="llama",
    ),
    BackendEntry(
        "openai",
        "gapbench.backends.openai_http:create",
        summary="any OpenAI-compatible HTTP endpoint: APIs, vLLM, llama.cpp's server, Ollama",
        prefix="openai:",
        resolver="gapbench.catalog.providers:openai_spec",
        reference_form="openai:URL#MODEL or PROVIDER/MODEL",
        billing="tokens",
        preflight="gapbench.backends.openai_config:preflight",
        # aiohttp sends the requests; httpx makes the synchronous preflight call.
        requires=("aiohttp", "httpx"),
        extra="api",
    ),
    BackendEntry(
        "scripted",
        "gapbench.backends.scripted:create",
        summary="deterministic answers at a chosen accuracy, for tests and demos",
        prefix="scripted:",
        resolver="gapbench.backends.scripted:scripted_spec",
        reference_form="scripted:NAME?accuracy=0.7",
        origin_offline=True,
    ),
    BackendEntry(
        "transformers",
        "gapbench.backends.transformers_backend:create",
        summary="Hugging Face transformers on torch (model directories, Hub ids)",
        prefix="hf:",
        resolver="gapbench.backends.transformers_files:hf_reference_spec",
        reference_form="hf:Org/Name or hf:PATH",
        path_references=True,
        resolves_online=True,
        weights="model-directory",
        resources="gpu",
        requires=("torch", "transformers"),
        extra="hf",
    ),
)

BackendFactory = Callable[["ModelSpec", Path | None, BackendOptions], "Backend"]


@functools.cache
def _registry() -> dict[str, BackendEntry]:
    from dataclasses import replace

    from gapbench.entry_points import BACKENDS_GROUP, load_group, report_problem

    entries = {entry.name: entry for entry in BUILTIN_BACKENDS}
    for loaded in load_group(BACKENDS_GROUP):
        entry = loaded.value
        if not isinstance(entry, BackendEntry):
            report_problem(
                f"plugin {loaded.source} ({BACKENDS_GROUP}: {loaded.name}) is a "
                f"{type(entry).__name__}, not a gapbench BackendEntry; it is left out."
            )
            continue
        if entry.name in entries:
            report_problem(
                f"plugin {loaded.source} registers backend '{entry.name}', which "
                f"{entries[entry.name].source} already has; it is left out."
            )
            continue
        entries[entry.name] = replace(entry, source=loaded.source)
    return entries


def backend_entries() -> list[BackendEntry]:
    """Every registered backend, built-in first, then plugins'."""
    return list(_registry().values())


def available_backends() -> list[str]:
    """Names of the registered backends (whether or not their packages are installed)."""
    return sorted(_registry())


def backend_entry(name: str) -> BackendEntry:
    """The entry of backend `name`; UsageError naming the known ones when there is none."""
    entry = _registry().get(name)
    if entry is None:
        raise UsageError(
            f"Unknown backend '{name}'; known backends: {', '.join(available_backends())}."
            + closest(name, available_backends())
        )
    return entry


def known_backend(name: str) -> BackendEntry | None:
    """The entry of `name`, or None (a stored run of a backend no longer installed)."""
    return _registry().get(name)


def billing_of(name: str) -> Billing:
    """How runs of the backend called `name` are charged ('time' for one no longer installed)."""
    entry = known_backend(name)
    return "time" if entry is None else entry.billing


def entry_of(spec: ModelSpec) -> BackendEntry:
    """The entry of the backend that runs `spec`."""
    return backend_entry(spec.backend)


def load_target(target: str) -> Any:
    """The object a 'module:attribute' string names."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _factory(name: str) -> BackendFactory:
    entry = backend_entry(name)
    # The backend's own module first: it imports its engine lazily, and may need to set up the
    # environment before the engine loads (llama.cpp reads OMP_WAIT_POLICY once, at load).
    factory = load_target(entry.target)
    for package in entry.requires:
        try:
            importlib.import_module(package)
        except ImportError as exc:
            raise BackendError(entry.install_hint) from exc
    return cast(BackendFactory, factory)


def preflight(spec: ModelSpec) -> None:
    """The backend's own check of `spec` before anything runs (see BackendEntry.preflight)."""
    entry = backend_entry(spec.backend)
    if entry.preflight is not None:
        load_target(entry.preflight)(spec)


def weights_file(spec: ModelSpec, auto_pull: bool) -> Path | None:
    """The local weights file `spec`'s backend runs (None when it runs none), pulled into the
    cache first when `auto_pull` and it is not there yet (progress lines on stderr)."""
    import sys

    from gapbench.catalog.pull import model_file, pull, resolve_file

    if entry_of(spec).weights != "gguf-file":
        return None
    if spec.local_path is None and model_file(spec) is None and auto_pull:
        print(f"Pulling {spec.id} (first use)...", file=sys.stderr, flush=True)
        return pull(spec, progress=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True))
    return resolve_file(spec)


def model_loader(
    options: BackendOptions, auto_pull: bool = True
) -> Callable[[ModelSpec], tuple[Backend, Path | None]]:
    """Loads a model for the runner (runner.BackendFactory), pulling its weights first when they
    are not cached yet."""

    def load(spec: ModelSpec) -> tuple[Backend, Path | None]:
        path = weights_file(spec, auto_pull)
        return load_backend(spec, path, options), path

    return load


def load_backend(spec: ModelSpec, model_path: Path | None, options: BackendOptions) -> Backend:
    """Load `spec` with its registered backend. `model_path` is the local weights file (None for
    backends that need none, like 'scripted')."""
    return _factory(spec.backend)(spec, model_path, options)
