"""Our GGUF type tables against the gguf package's own (gguf-py, from llama.cpp; a dev
dependency through the hf extra): a type gguf knows and we do not would leave the truncation
check of a file that uses it incomplete, so a newer gguf fails this test until the tables
catch up."""

from __future__ import annotations

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from gapbench.catalog.gguf import FILE_TYPE_NAMES, GGML_TYPES

# Not a type a file records: llama.cpp ORs it into a file type it had to guess.
NOT_FILE_TYPES = {LlamaFileType.GUESSED}


def test_every_ggml_type_of_gguf_is_ours_with_the_same_layout() -> None:
    theirs = {int(t): (t.name, *GGML_QUANT_SIZES[t]) for t in GGMLQuantizationType}
    ours = {i: (t.name, t.block_elements, t.block_bytes) for i, t in GGML_TYPES.items()}
    missing = {i: theirs[i] for i in theirs.keys() - ours.keys()}
    assert not missing, f"gguf knows ggml types gapbench's table lacks: {missing}"
    assert theirs == ours  # names, elements per block and bytes per block, id by id


def test_every_file_type_of_gguf_is_ours_with_the_same_label() -> None:
    theirs = {
        int(f): f.name.removeprefix("MOSTLY_").removeprefix("ALL_")
        for f in LlamaFileType
        if f not in NOT_FILE_TYPES
    }
    missing = {i: theirs[i] for i in theirs.keys() - FILE_TYPE_NAMES.keys()}
    assert not missing, f"gguf knows file types gapbench's table lacks: {missing}"
    assert theirs == FILE_TYPE_NAMES  # label by label
