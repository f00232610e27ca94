"""What a local transformers model directory holds, read from its files without importing torch:
a ModelSpec for `hf:<path>` refs, the weights hash, the position limit."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gapbench.errors import UsageError

if TYPE_CHECKING:
    from gapbench.catalog.types import ModelSpec

LOCAL_PREFIX = "hf-local:"
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.gguf")
_POSITION_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length")


def max_positions(config: dict[str, Any]) -> int | None:
    """Longest sequence the model's position embeddings cover, when its config says."""
    values = [config.get(key) for key in _POSITION_KEYS]
    return next((v for v in values if isinstance(v, int) and v > 0), None)


def weights_sha256(path: Path) -> str | None:
    """sha256 of a weights file; for a directory, of its one weights file, or of the sorted
    'name  sha256' lines of several (sharded) ones; None when it has none."""
    from gapbench.catalog.hashing import sha256_file

    if path.is_file():
        return sha256_file(path)
    for pattern in WEIGHT_PATTERNS:
        files = sorted(path.glob(pattern))
        if len(files) == 1:
            return sha256_file(files[0])
        if files:
            lines = "".join(f"{f.name}  {sha256_file(f)}\n" for f in files)
            return hashlib.sha256(lines.encode("utf-8")).hexdigest()
    return None


def _safetensors_params(directory: Path) -> int:
    """Parameter count from the safetensors headers alone (8-byte length, then JSON)."""
    total = 0
    for file in directory.glob("*.safetensors"):
        with file.open("rb") as stream:
            header = json.loads(stream.read(int.from_bytes(stream.read(8), "little")))
        for name, entry in header.items():
            if name != "__metadata__":
                total += math.prod(entry["shape"])
    return total


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def hf_reference_spec(ref: str) -> ModelSpec:
    """The spec of a reference 'hf:<path or Org/Name[@revision]>' (the registry's resolver)."""
    return hf_model_spec(ref.removeprefix("hf:"))


def hf_model_spec(ref: str) -> ModelSpec:
    """The spec of `hf:<ref>`: a local directory or GGUF file when `ref` names one, else a Hub
    repository id ('Org/Name' or 'Org/Name@revision') downloaded into the Hugging Face cache."""
    from gapbench.catalog.hub_snapshot import parse_hub_ref, snapshot

    path = Path(ref).expanduser()
    hub = None if path.exists() else parse_hub_ref(ref)
    if hub is None:
        return local_model_spec(path)
    repo, revision = hub
    spec = local_model_spec(snapshot(repo, revision))
    model_id = f"hf:{repo}" if revision == "main" else f"hf:{repo}@{revision}"
    return spec.model_copy(update={"id": model_id, "display_name": repo})


def local_model_spec(path: Path) -> ModelSpec:
    """A ModelSpec for a local save_pretrained directory (or GGUF file) run with transformers,
    read from its config and tokenizer files without importing torch. Instruct when the
    tokenizer has a chat template."""
    from gapbench.catalog.types import ModelSpec

    path = path.expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        from gapbench.catalog.gguf import validate_gguf

        header = validate_gguf(path)
        family, params = header.architecture or "unknown", header.param_count
        has_template, context = header.has_chat_template, header.context_length or 2048
        quantization = header.quantization or "unknown"
    elif (path / "config.json").is_file():
        config = _read_json(path / "config.json")
        templates = ("chat_template.jinja", "chat_template.json")
        has_template = bool(_read_json(path / "tokenizer_config.json").get("chat_template"))
        has_template |= any((path / name).is_file() for name in templates)
        family = str(config.get("model_type") or "unknown")
        params = _safetensors_params(path)
        context = max_positions(config.get("text_config") or config) or 2048
        quantization = str(config.get("dtype") or config.get("torch_dtype") or "unknown")
    else:
        raise UsageError(
            f"{path} is not a transformers model directory (no config.json) nor a .gguf file, "
            "nor a Hub repository id such as Org/Name."
        )
    return ModelSpec(
        id=f"{LOCAL_PREFIX}{path.name}",
        display_name=path.name,
        family=family,
        organisation="unknown",
        origin="unknown",
        params=params,
        kind="instruct" if has_template else "base",
        license="unknown",
        context_length=context,
        quantization=quantization,
        backend="transformers",
        local_path=str(path.resolve()),
    )
