"""A small pure-Python reader of GGUF headers, to check a model file before llama.cpp loads it.

llama.cpp reports a truncated or corrupt file with a C-level error (or worse, a crash mid-run);
reading the header ourselves lets us say which file is bad and what to do about it.
Format reference: ggml's docs/gguf.md and gguf-py's constants.py.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gapbench.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

MetadataValue = str | int | float | bool | list["MetadataValue"] | None
"""A decoded metadata value; big arrays are summarised as None (see ArrayInfo)."""


@dataclass(frozen=True)
class GgmlType:
    """A ggml tensor type: its name and block layout (elements per block, bytes per block)."""

    name: str
    block_elements: int
    block_bytes: int


# ggml tensor type id -> type, as gguf-py's GGMLQuantizationType and GGML_QUANT_SIZES have them
# (tests/catalog/test_gguf_tables.py checks every entry against the installed gguf package).
# Ids 4-5, 31-33 and 36-38 were types ggml has since removed.
GGML_TYPES: dict[int, GgmlType] = {
    0: GgmlType("F32", 1, 4),
    1: GgmlType("F16", 1, 2),
    2: GgmlType("Q4_0", 32, 18),
    3: GgmlType("Q4_1", 32, 20),
    6: GgmlType("Q5_0", 32, 22),
    7: GgmlType("Q5_1", 32, 24),
    8: GgmlType("Q8_0", 32, 34),
    9: GgmlType("Q8_1", 32, 40),
    10: GgmlType("Q2_K", 256, 84),
    11: GgmlType("Q3_K", 256, 110),
    12: GgmlType("Q4_K", 256, 144),
    13: GgmlType("Q5_K", 256, 176),
    14: GgmlType("Q6_K", 256, 210),
    15: GgmlType("Q8_K", 256, 292),
    16: GgmlType("IQ2_XXS", 256, 66),
    17: GgmlType("IQ2_XS", 256, 74),
    18: GgmlType("IQ3_XXS", 256, 98),
    19: GgmlType("IQ1_S", 256, 50),
    20: GgmlType("IQ4_NL", 32, 18),
    21: GgmlType("IQ3_S", 256, 110),
    22: GgmlType("IQ2_S", 256, 82),
    23: GgmlType("IQ4_XS", 256, 136),
    24: GgmlType("I8", 1, 1),
    25: GgmlType("I16", 1, 2),
    26: GgmlType("I32", 1, 4),
    27: GgmlType("I64", 1, 8),
    28: GgmlType("F64", 1, 8),
    29: GgmlType("IQ1_M", 256, 56),
    30: GgmlType("BF16", 1, 2),
    34: GgmlType("TQ1_0", 256, 54),
    35: GgmlType("TQ2_0", 256, 66),
    39: GgmlType("MXFP4", 32, 17),
    40: GgmlType("NVFP4", 64, 36),
    41: GgmlType("Q1_0", 128, 18),
}

# general.file_type (llama_ftype) -> the usual quantization label: gguf-py's LlamaFileType names
# without their ALL_/MOSTLY_ prefix (checked against the installed gguf package too).
FILE_TYPE_NAMES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}

# Metadata value types: id -> struct format of one scalar (8 = string, 9 = array).
_SCALAR_FORMATS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
# Arrays longer than this (tokenizer vocabularies: ~50k-150k entries) are skipped, not decoded.
_MAX_DECODED_ARRAY = 64


class _Truncated(Exception):
    """The header ends before the file does (turned into ModelFileError by the parser)."""


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the tensor info table."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    """Byte offset of the tensor data, relative to the start of the data section."""

    @property
    def n_elements(self) -> int:
        """Number of elements (weights) in the tensor."""
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def nbytes(self) -> int | None:
        """Size of the tensor data in bytes, or None for a ggml type this reader does not know."""
        known = GGML_TYPES.get(self.ggml_type)
        if known is None:
            return None
        return self.n_elements // known.block_elements * known.block_bytes


@dataclass(frozen=True)
class GGUFHeader:
    """What a GGUF file says about itself, read without loading any weights."""

    path: Path
    version: int
    file_size: int
    metadata: Mapping[str, MetadataValue]
    """Decoded metadata; arrays over 64 entries are None (their lengths are in array_lengths)."""
    array_lengths: Mapping[str, int]
    tensors: tuple[TensorInfo, ...]
    data_offset: int
    """Where the tensor data section starts (after the header, padded to the alignment)."""

    @property
    def tensor_count(self) -> int:
        """Number of tensors the header declares."""
        return len(self.tensors)

    @property
    def architecture(self) -> str | None:
        """`general.architecture`, e.g. 'llama', 'qwen2', 'gemma3'."""
        return _as_str(self.metadata.get("general.architecture"))

    @property
    def name(self) -> str | None:
        """`general.name`, the model name the converter recorded."""
        return _as_str(self.metadata.get("general.name"))

    @property
    def context_length(self) -> int | None:
        """`<arch>.context_length`: the context the model was trained for."""
        value = self.metadata.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def has_chat_template(self) -> bool:
        """Whether the file carries `tokenizer.chat_template` (a sign of an instruct model)."""
        return bool(self.metadata.get("tokenizer.chat_template"))

    @property
    def file_type(self) -> int | None:
        """`general.file_type` (llama_ftype id)."""
        value = self.metadata.get("general.file_type")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def quantization(self) -> str | None:
        """The file type as a label such as 'Q4_K_M', when known."""
        return FILE_TYPE_NAMES.get(self.file_type) if self.file_type is not None else None

    @property
    def alignment(self) -> int:
        """`general.alignment`, default 32."""
        return _alignment(self.metadata)

    @property
    def param_count(self) -> int:
        """Number of weights stored in the file (a duplicated output matrix counts twice)."""
        return sum(t.n_elements for t in self.tensors)

    @property
    def data_end(self) -> int | None:
        """Byte where the last tensor's data ends; None if a tensor type is unknown here."""
        if self.unknown_types:
            return None
        return self.data_end_at_least

    @property
    def data_end_at_least(self) -> int:
        """The least byte the tensor data can end at: data_end when every type is known, else
        the end of the known tensors or the start of the unknown ones, whichever is later."""
        end = self.data_offset
        for tensor in self.tensors:
            end = max(end, self.data_offset + tensor.offset + (tensor.nbytes or 0))
        return end

    @property
    def unknown_types(self) -> tuple[int, ...]:
        """The ggml type ids of tensors this reader has no block layout for, in order."""
        return tuple(sorted({t.ggml_type for t in self.tensors if t.ggml_type not in GGML_TYPES}))

    @property
    def truncation_checked(self) -> bool:
        """Whether the file's size could be checked against every tensor's data."""
        return not self.unknown_types


def _alignment(metadata: Mapping[str, MetadataValue]) -> int:
    value = metadata.get("general.alignment")
    valid = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if valid and isinstance(value, int) else DEFAULT_ALIGNMENT


def _as_str(value: MetadataValue) -> str | None:
    return value if isinstance(value, str) else None


class _Reader:
    """Sequential little-endian reads that fail with _Truncated instead of short reads."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._size = size
        self.pos = 0

    def read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self._size:
            raise _Truncated
        data = self._stream.read(n)
        if len(data) != n:
            raise _Truncated
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self._size:
            raise _Truncated
        self._stream.seek(n, 1)
        self.pos += n

    def unpack(self, fmt: str) -> int | float | bool:
        value: int | float | bool = struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]
        return value

    def u32(self) -> int:
        return int(self.unpack("<I"))

    def u64(self) -> int:
        return int(self.unpack("<Q"))

    def string(self) -> str:
        return self.read(self.u64()).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.skip(self.u64())


def _read_value(reader: _Reader, value_type: int) -> tuple[MetadataValue, int | None]:
    """Read one metadata value; returns (value, array length or None)."""
    if value_type == _STRING:
        return reader.string(), None
    if value_type in _SCALAR_FORMATS:
        return reader.unpack(_SCALAR_FORMATS[value_type]), None
    if value_type != _ARRAY:
        raise ValueError(f"unknown metadata value type {value_type}")
    item_type = reader.u32()
    length = reader.u64()
    if length <= _MAX_DECODED_ARRAY:
        return [_read_value(reader, item_type)[0] for _ in range(length)], length
    # Big arrays (vocabularies, merges) are skipped: seeking over fixed-size items, or hopping
    # string by string, without building Python objects for them.
    if item_type in _SCALAR_FORMATS:
        reader.skip(length * struct.calcsize(_SCALAR_FORMATS[item_type]))
    elif item_type == _STRING:
        for _ in range(length):
            reader.skip_string()
    else:
        for _ in range(length):
            _read_value(reader, item_type)
    return None, length


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Read the metadata and tensor table of a GGUF file; raise ModelFileError if unreadable."""
    file_path = Path(path)
    try:
        size = file_path.stat().st_size
        with file_path.open("rb") as stream:
            return _parse(file_path, stream, size)
    except FileNotFoundError:
        raise ModelFileError(f"Model file {file_path} does not exist: check the path.") from None
    except IsADirectoryError:
        raise ModelFileError(f"{file_path} is a directory, not a GGUF model file.") from None
    except PermissionError:
        raise ModelFileError(f"Cannot read {file_path}: check its permissions.") from None


def _parse(path: Path, stream: BinaryIO, size: int) -> GGUFHeader:
    reader = _Reader(stream, size)
    try:
        magic = reader.read(4)
    except _Truncated:
        magic = b""
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"{path} is not a GGUF file (bad magic {magic!r}): gapbench needs a .gguf model file."
        )
    try:
        version = reader.u32()
        if version not in (2, 3):
            raise ModelFileError(
                f"{path} uses GGUF version {version}, which llama.cpp does not load: "
                "convert it again with a recent llama.cpp."
            )
        tensor_count = reader.u64()
        kv_count = reader.u64()
        metadata: dict[str, MetadataValue] = {}
        array_lengths: dict[str, int] = {}
        for _ in range(kv_count):
            key = reader.string()
            value, length = _read_value(reader, reader.u32())
            metadata[key] = value
            if length is not None:
                array_lengths[key] = length
        tensors = []
        for _ in range(tensor_count):
            name = reader.string()
            n_dims = reader.u32()
            if n_dims > 8:
                raise ValueError(f"tensor {name!r} has {n_dims} dimensions")
            shape = tuple(reader.u64() for _ in range(n_dims))
            tensors.append(TensorInfo(name, shape, reader.u32(), reader.u64()))
    except _Truncated:
        raise ModelFileError(
            f"{path} is truncated or corrupt: its GGUF header stops at byte {reader.pos} "
            f"of {size}; delete it and download it again."
        ) from None
    except ValueError as error:
        raise ModelFileError(
            f"{path} has a corrupt GGUF header ({error}); delete it and download it again."
        ) from None
    alignment = _alignment(metadata)
    data_offset = -(-reader.pos // alignment) * alignment
    return GGUFHeader(
        path=path,
        version=version,
        file_size=size,
        metadata=metadata,
        array_lengths=array_lengths,
        tensors=tuple(tensors),
        data_offset=data_offset,
    )


def validate_gguf(
    path: str | Path, *, model_id: str | None = None, warn: Callable[[str], None] | None = None
) -> GGUFHeader:
    """Check that a file is a complete GGUF file; return its header or raise ModelFileError.

    The truncation check compares the end of the last tensor (from the tensor table) with the
    file size. A tensor type this reader does not know (a ggml newer than the table) leaves the
    size of that tensor open: the file is still refused when it ends before what is known, and
    otherwise `warn` (default: one line on stderr, once per file) says the check could not be
    completed, and the header's truncation_checked is False. Not an error: such a file is most
    likely whole, and a llama.cpp that knows the type loads it.
    """
    header = read_gguf_header(path)
    end = header.data_end_at_least
    if header.file_size < end:
        fix = (
            f"delete it and run `gapbench models pull {model_id}` again"
            if model_id
            else "delete it and download it again"
        )
        ending = "ending at" if header.truncation_checked else "ending at or after"
        raise ModelFileError(
            f"{header.path} is truncated: header says {header.tensor_count} tensors {ending} "
            f"byte {end} but the file ends at byte {header.file_size} — {fix}."
        )
    if not header.truncation_checked:
        unknown = header.unknown_types
        types = ("type " if len(unknown) == 1 else "types ") + ", ".join(map(str, unknown))
        (warn or _warn_once)(
            f"Warning: {header.path} could not be fully checked for truncation: it uses ggml "
            f"tensor {types}, which this gapbench does not know (upgrade gapbench to check it; "
            "the file may well be fine)."
        )
    return header


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    # validate_gguf runs more than once per file in one command (resolve, then load).
    if message not in _warned:
        _warned.add(message)
        print(message, file=sys.stderr, flush=True)
