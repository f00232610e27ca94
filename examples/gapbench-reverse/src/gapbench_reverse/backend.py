"""`oracle`: a backend that answers reverse_words questions itself (and nothing else).

A backend is a factory registered as a BackendEntry: `create(spec, model_path, options)` returns an
object with `info()`, `generate(requests)` and `close()` (gapbench.backends.base.Backend). Models
are written `oracle:NAME`; the entry's resolver turns that into a ModelSpec.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from gapbench.backends.registry import BackendEntry, BackendOptions
from gapbench.backends.types import BackendInfo, Generation, GenerationRequest, Timing
from gapbench.catalog.types import ModelSpec
from gapbench.errors import UsageError

BACKEND = BackendEntry(
    name="oracle",
    target="gapbench_reverse.backend:create",
    summary="answers reverse_words questions by reversing the words itself",
    prefix="oracle:",
    resolver="gapbench_reverse.backend:spec",
    reference_form="oracle:NAME",
    origin_offline=True,
)

_QUESTION = re.compile(r"reverse order: ([a-z ]+)")


def spec(ref: str) -> ModelSpec:
    """The ModelSpec of 'oracle:NAME'."""
    name = ref.removeprefix("oracle:")
    if not re.fullmatch(r"[a-z0-9-]+", name):
        raise UsageError(f"Bad oracle model {ref!r}: write oracle:NAME (lower-case letters).")
    return ModelSpec(
        id=ref, display_name=ref, family="oracle", organisation="example", origin="unknown",
        params=0, kind="instruct", license="MIT", context_length=4096, quantization="none",
        backend="oracle",
    )  # fmt: skip


class OracleBackend:
    def info(self) -> BackendInfo:
        return BackendInfo(backend="oracle", engine_version="gapbench-reverse 0.1.0")

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[Generation]:
        for request in requests:
            start = time.perf_counter()
            prompt = request.prompt or (request.messages or ())[-1].content
            found = _QUESTION.findall(prompt)
            words = found[-1].split() if found else []
            text = f"Answer: {' '.join(reversed(words))}" if words else "I don't know."
            yield Generation(
                request_id=request.request_id, text=text, prompt_tokens=len(prompt.split()),
                completion_tokens=len(text.split()), finish_reason="stop",
                timing=Timing(start=start, end=time.perf_counter()),
            )  # fmt: skip

    def close(self) -> None:
        pass


def create(spec: ModelSpec, model_path: Path | None, options: BackendOptions) -> OracleBackend:
    del spec, model_path, options  # nothing to load
    return OracleBackend()
