"""The Backend protocol: a batch of requests in, generations out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from gapbench.backends.types import BackendInfo, Generation, GenerationRequest


@runtime_checkable
class Backend(Protocol):
    """A loaded model that can generate.

    `generate` yields one Generation per request, in completion order (not necessarily request
    order: a batching backend yields each as soon as it finishes, so the runner can persist it at
    once). Every request yields exactly one Generation, failed ones included.
    """

    def info(self) -> BackendInfo: ...

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[Generation]: ...

    def close(self) -> None: ...
