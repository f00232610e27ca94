"""The GGUF header reader, on synthetic files written here and on the real SmolLM2 file."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from gapbench.catalog.gguf import read_gguf_header, validate_gguf
from gapbench.errors import ModelFileError

# --- an independent GGUF writer (follows ggml's docs/gguf.md, not our reader) ---------------

UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64 = 4, 5, 6, 7, 8, 9, 10
# ggml type id -> bytes per block of 32 (or 256) weights, from the block structs in ggml-common.h:
F32 = (0, 1, 4)  # a float per weight
Q8_0 = (8, 32, 2 + 32)  # fp16 scale + 32 int8
Q4_K = (12, 256, 2 + 2 + 12 + 256 // 2)  # fp16 d, fp16 dmin, 12 scale bytes, 4-bit quants


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(kind: int, value: object) -> bytes:
    if kind == STRING:
        assert isinstance(value, str)
        return _string(value)
    if kind == ARRAY:
        assert isinstance(value, tuple)
        item_kind, items = value
        body = b"".join(_value(item_kind, item) for item in items)
        return struct.pack("<IQ", item_kind, len(items)) + body
    fmt = {UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<?", UINT64: "<Q"}[kind]
    return struct.pack(fmt, value)


def write_gguf(
    path: Path,
    metadata: list[tuple[str, int, object]],
    tensors: list[tuple[str, tuple[int, ...], tuple[int, int, int]]],
    *,
    alignment: int = 32,
    version: int = 3,
    magic: bytes = b"GGUF",
) -> None:
    """Write a GGUF file whose tensor data is filled with ones (each tensor padded)."""
    head = magic + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, kind, value in metadata:
        head += _string(key) + struct.pack("<I", kind) + _value(kind, value)
    offset, sizes = 0, []
    for name, shape, (type_id, block, block_bytes) in tensors:
        count = 1
        for dim in shape:
            count *= dim
        nbytes = count // block * block_bytes
        head += _string(name) + struct.pack("<I", len(shape))
        head += b"".join(struct.pack("<Q", dim) for dim in shape)
        head += struct.pack("<IQ", type_id, offset)
        sizes.append(nbytes)
        offset += -(-nbytes // alignment) * alignment
    head += b"\0" * (-len(head) % alignment)
    data = b"".join(b"\1" * n + b"\0" * (-n % alignment) for n in sizes)
    path.write_bytes(head + data)


BASIC_METADATA: list[tuple[str, int, object]] = [
    ("general.architecture", STRING, "llama"),
    ("general.name", STRING, "Tiny Test"),
    ("llama.context_length", UINT32, 4096),
    ("general.file_type", UINT32, 15),
    ("tokenizer.chat_template", STRING, "{% for m in messages %}{{ m.content }}{% endfor %}"),
    ("tokenizer.ggml.tokens", ARRAY, (STRING, [f"tok{i}" for i in range(300)])),
    ("tokenizer.ggml.scores", ARRAY, (FLOAT32, [0.5] * 100)),
    ("general.tags", ARRAY, (STRING, ["a", "b"])),
    ("some.flag", BOOL, True),
]
BASIC_TENSORS = [
    ("token_embd.weight", (256, 10), Q4_K),
    ("blk.0.attn_q.weight", (64, 3), Q8_0),
    ("output_norm.weight", (7,), F32),
]


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.gguf"
    write_gguf(path, BASIC_METADATA, BASIC_TENSORS)
    return path


def test_reads_metadata_of_a_synthetic_file(tiny_gguf: Path) -> None:
    header = read_gguf_header(tiny_gguf)
    assert header.version == 3
    assert header.architecture == "llama"
    assert header.name == "Tiny Test"
    assert header.context_length == 4096
    assert header.has_chat_template
    assert header.quantization == "Q4_K_M"
    assert header.metadata["some.flag"] is True
    assert header.metadata["general.tags"] == ["a", "b"]
    # Big arrays are skipped, not decoded, but their length is known.
    assert header.metadata["tokenizer.ggml.tokens"] is None
    assert header.array_lengths["tokenizer.ggml.tokens"] == 300
    assert header.array_lengths["tokenizer.ggml.scores"] == 100
    assert header.tensor_count == 3
    assert header.param_count == 256 * 10 + 64 * 3 + 7
    assert [t.name for t in header.tensors] == [name for name, _, _ in BASIC_TENSORS]


def test_tensor_sizes_follow_the_ggml_block_layouts(tiny_gguf: Path) -> None:
    header = read_gguf_header(tiny_gguf)
    for tensor, (_, shape, (type_id, block, block_bytes)) in zip(
        header.tensors, BASIC_TENSORS, strict=True
    ):
        count = 1
        for dim in shape:
            count *= dim
        assert tensor.ggml_type == type_id
        assert tensor.nbytes == count // block * block_bytes


def test_complete_file_validates_and_data_end_matches_file_size(tiny_gguf: Path) -> None:
    header = validate_gguf(tiny_gguf)
    # The writer pads every tensor to the alignment, the last one included.
    last_padding = -(7 * 4) % 32
    assert header.data_end == tiny_gguf.stat().st_size - last_padding
    assert header.data_offset % 32 == 0


def test_truncated_tensor_data_is_reported_with_the_pull_command(tiny_gguf: Path) -> None:
    data = tiny_gguf.read_bytes()
    cut = validate_gguf(tiny_gguf).data_end
    assert cut is not None
    tiny_gguf.write_bytes(data[: cut - 1])
    with pytest.raises(ModelFileError, match="truncated") as caught:
        validate_gguf(tiny_gguf, model_id="tiny-model")
    message = str(caught.value)
    assert "3 tensors" in message
    assert f"ends at byte {cut - 1}" in message
    assert "gapbench models pull tiny-model" in message


def test_file_cut_inside_the_header(tiny_gguf: Path) -> None:
    tiny_gguf.write_bytes(tiny_gguf.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        validate_gguf(tiny_gguf)


def test_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "bad.gguf"
    write_gguf(path, BASIC_METADATA, BASIC_TENSORS, magic=b"GGML")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        validate_gguf(path)


def test_empty_file_and_missing_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        validate_gguf(empty)
    with pytest.raises(ModelFileError, match="does not exist"):
        validate_gguf(tmp_path / "absent.gguf")


def test_old_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v1.gguf"
    write_gguf(path, BASIC_METADATA, BASIC_TENSORS, version=1)
    with pytest.raises(ModelFileError, match="version 1"):
        validate_gguf(path)


def test_custom_alignment_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "aligned.gguf"
    metadata = [*BASIC_METADATA, ("general.alignment", UINT32, 256)]
    write_gguf(path, metadata, BASIC_TENSORS, alignment=256)
    header = validate_gguf(path)
    assert header.alignment == 256
    assert header.data_offset % 256 == 0
    assert header.data_end == path.stat().st_size - (-(7 * 4) % 256)


def test_unknown_tensor_type_is_said_to_leave_the_check_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "future.gguf"
    write_gguf(path, BASIC_METADATA, [*BASIC_TENSORS, ("w", (32, 4), (99, 32, 10))])
    path.write_bytes(path.read_bytes()[:-50])  # cut into the data of the unknown tensor
    header = validate_gguf(path)
    assert header.data_end is None and not header.truncation_checked
    assert header.unknown_types == (99,)
    [line] = capsys.readouterr().err.splitlines()  # one line, on stderr
    assert line.startswith(f"Warning: {path} could not be fully checked for truncation")
    assert "ggml tensor type 99," in line
    validate_gguf(path)  # resolve, then load: said once
    assert capsys.readouterr().err == ""
    said: list[str] = []
    validate_gguf(path, warn=said.append)
    assert len(said) == 1 and "type 99" in said[0]


def test_unknown_tensor_type_still_catches_a_cut_before_its_data(tmp_path: Path) -> None:
    path = tmp_path / "future-cut.gguf"
    # The unknown tensor last in the table, but first in the data: a cut inside the known
    # tensors' data is certain whatever the unknown type's size.
    write_gguf(path, BASIC_METADATA, [("w", (32, 4), (99, 32, 10)), *BASIC_TENSORS])
    known_end = read_gguf_header(path).data_end_at_least
    path.write_bytes(path.read_bytes()[: known_end - 100])
    with pytest.raises(ModelFileError, match=r"4 tensors ending at or after byte \d+"):
        validate_gguf(path, model_id="future")


def test_known_types_are_checked_silently(
    tiny_gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = validate_gguf(tiny_gguf)
    assert header.truncation_checked and header.unknown_types == ()
    assert header.data_end == header.data_end_at_least <= tiny_gguf.stat().st_size
    assert capsys.readouterr().err == ""


def test_no_chat_template_means_no_template(tmp_path: Path) -> None:
    path = tmp_path / "base.gguf"
    metadata = [m for m in BASIC_METADATA if m[0] != "tokenizer.chat_template"]
    write_gguf(path, metadata, BASIC_TENSORS)
    assert not read_gguf_header(path).has_chat_template


# --- the real SmolLM2 file -------------------------------------------------------------------

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SIZE = 98_362_432  # from the wheel's RECORD / `unzip -l`


# `smollm2_file` (tests/conftest.py) pulls the real file through the catalog, as a user would.


@pytest.mark.slow
def test_real_smollm2_header(smollm2_file: Path) -> None:
    header = validate_gguf(smollm2_file)
    assert header.file_size == SMOLLM2_SIZE
    assert header.architecture == "llama"
    assert header.context_length == 8192
    assert header.has_chat_template
    assert header.quantization == "Q4_1"
    # The tensor table accounts for every byte of the file.
    assert header.data_end == SMOLLM2_SIZE
    assert 130_000_000 < header.param_count < 140_000_000  # "135M"


@pytest.mark.slow
def test_real_smollm2_truncated_copy(smollm2_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cut.gguf"
    with smollm2_file.open("rb") as source, copy.open("wb") as out:
        shutil.copyfileobj(source, out)
        out.truncate(SMOLLM2_SIZE - 4096)
    # 30 blocks of 9 tensors, plus the embedding and the final norm.
    with pytest.raises(ModelFileError, match=r"truncated.*272 tensors"):
        validate_gguf(copy, model_id="smollm2-135m-instruct")


@pytest.mark.slow
def test_real_smollm2_corrupted_magic(smollm2_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bad.gguf"
    with smollm2_file.open("rb") as source:
        head = source.read(1 << 20)
    copy.write_bytes(b"XXXX" + head[4:])
    with pytest.raises(ModelFileError, match="bad magic"):
        validate_gguf(copy)
