"""The codec for values crossing the sandbox wall: exact round trips, and nothing but data."""

from __future__ import annotations

import json
import math
from collections import Counter, OrderedDict
from enum import IntEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gapbench.scoring.literals import LiteralError, decode_value, dumps, encode_value, loads

_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.binary() | st.complex_numbers(allow_nan=False)
)  # fmt: skip
_hashable = st.recursive(
    _scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=8
)
_values = st.recursive(
    _scalars | _hashable,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_hashable, inner, max_size=4)
        | st.sets(_hashable, max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=20,
)


def _canonical(value: Any) -> Any:
    """Type and value all the way down, with sets in a fixed order, so that 1, 1.0 and True
    differ, and two equal sets built in different orders do not."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_canonical(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(_canonical(k), _canonical(v)) for k, v in value.items()])
    if isinstance(value, (set, frozenset)):
        return (type(value).__name__, sorted(repr(_canonical(v)) for v in value))
    return (type(value).__name__, repr(value))


def _same(a: Any, b: Any) -> bool:
    return bool(_canonical(a) == _canonical(b))


@given(_values)
def test_every_literal_value_survives_the_round_trip(value: Any) -> None:
    wire = loads(dumps({"value": encode_value(value)}))["value"]
    assert _same(decode_value(wire), value)


@pytest.mark.parametrize("special", [math.nan, math.inf, -math.inf, -0.0])
def test_special_floats_survive(special: float) -> None:
    back = decode_value(json.loads(dumps({"v": encode_value(special)}))["v"])
    assert repr(back) == repr(special)


def test_subclasses_travel_as_their_base_type() -> None:
    class Colour(IntEnum):
        RED = 1

    assert decode_value(encode_value(Counter("aab"))) == {"a": 2, "b": 1}
    assert type(decode_value(encode_value(OrderedDict(a=1)))) is dict
    assert type(decode_value(encode_value(Colour.RED))) is int


@pytest.mark.parametrize("value", [object(), iter([1]), print, type, lambda: 1, range(3)])
def test_objects_with_behaviour_are_refused(value: Any) -> None:
    with pytest.raises(LiteralError, match="cannot be checked outside the sandbox"):
        encode_value(value)


def test_nesting_is_bounded() -> None:
    deep: list[Any] = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(LiteralError, match="nested deeper"):
        encode_value(deep)


@pytest.mark.parametrize(
    "wire",
    [
        {"$pickle": "gASV"},
        {"$tuple": 1},
        {"a": 1, "b": 2},
        {"$set": [[1]]},
        {"$bytes": "!!"},
        {"$float": "1e3"},
        {"$dict": [[1]]},
        {"$complex": ["a", 1]},
    ],
)
def test_malformed_values_are_refused(wire: Any) -> None:
    with pytest.raises(LiteralError):
        decode_value(wire)


@pytest.mark.parametrize("line", [b"not json", b"[1, 2]", b"1" * 5000, b"[" * 100_000])
def test_unreadable_messages_are_refused(line: bytes) -> None:
    with pytest.raises(LiteralError):
        loads(line)
