"""Backend lookup: a model's `backend` name -> a loaded Backend.

Registration is lazy: each entry is a "module:factory" string, so a backend's module (and the heavy
package behind it) is imported only when a model actually uses it. One dict is the single source of
truth for which backends exist.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

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
    automatic choice (`resolved_batch_size`): llama.cpp batches 8, capped by KV memory; backends
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


@dataclass(frozen=True)
class _Entry:
    target: str
    """'module:factory'; the factory is called as factory(spec, model_path, options)."""
    requires: tuple[str, ...] = ()
    """Importable packages the backend needs, checked first so a missing one gets a clear hint."""
    install_hint: str = ""


_BACKENDS: dict[str, _Entry] = {
    "llamacpp": _Entry(
        "gapbench.backends.llamacpp:create",
        requires=("llama_cpp",),
        install_hint="llama.cpp backend needs llama-cpp-python: pip install 'gapbench[llama]'",
    ),
    "openai": _Entry(
        "gapbench.backends.openai_http:create",
        requires=("httpx",),
        install_hint="the OpenAI-compatible HTTP backend needs httpx: pip install 'gapbench[api]'",
    ),
    "scripted": _Entry("gapbench.backends.scripted:create"),
    "transformers": _Entry(
        "gapbench.backends.transformers_backend:create",
        requires=("torch", "transformers"),
        install_hint="the transformers backend needs torch and transformers: "
        "pip install 'gapbench[hf]'",
    ),
}

BackendFactory = Callable[["ModelSpec", Path | None, BackendOptions], "Backend"]


def available_backends() -> list[str]:
    """Names of the registered backends (whether or not their packages are installed)."""
    return sorted(_BACKENDS)


def _factory(name: str) -> BackendFactory:
    entry = _BACKENDS.get(name)
    if entry is None:
        raise UsageError(
            f"Unknown backend '{name}'; known backends: {', '.join(available_backends())}."
            + closest(name, available_backends())
        )
    # The backend's own module first: it imports its engine lazily, and may need to set up the
    # environment before the engine loads (llama.cpp reads OMP_WAIT_POLICY once, at load).
    module_name, _, attr = entry.target.partition(":")
    module = importlib.import_module(module_name)
    for package in entry.requires:
        try:
            importlib.import_module(package)
        except ImportError as exc:
            raise BackendError(entry.install_hint or f"backend '{name}' needs {package}") from exc
    return cast(BackendFactory, getattr(module, attr))


def load_backend(spec: ModelSpec, model_path: Path | None, options: BackendOptions) -> Backend:
    """Load `spec` with its registered backend. `model_path` is the local weights file (None for
    backends that need none, like 'scripted')."""
    return _factory(spec.backend)(spec, model_path, options)
