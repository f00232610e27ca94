"""Plain values across the sandbox wall: a JSON encoding of Python's literal types, never pickle.

The trusted side calls a sandboxed function and compares what it returns, so what crosses the
wall must be data with no behaviour: unpickling, or any object with methods of the program's
choosing (an `__eq__` that always says True), would let the program decide its own verdict.
Values are None, bool, int, float (NaN and infinities included), complex, str, bytes, and lists,
tuples, dicts, sets and frozensets of them; JSON carries the first few directly and the rest as
one-key objects such as {"$tuple": [...]}. Subclasses of these types (Counter, OrderedDict, an
IntEnum) travel as their base type, as the test's `==` would see them.

This module is also run inside the sandbox, pasted before sandbox_stub.py under `python -I -S`,
so it must use nothing but the standard library and define nothing at import time that the stub
could not have.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

MAX_DEPTH = 64
"""Deeper nesting is refused on both sides: no legitimate answer nests further, and it bounds the
recursion of encode and decode."""


class LiteralError(ValueError):
    """A value that cannot cross the wall (unsupported type, too deep, malformed)."""


def encode_value(value: Any, depth: int = 0) -> Any:
    """A JSON-ready form of `value`; LiteralError for anything but the literal types."""
    if depth > MAX_DEPTH:
        raise LiteralError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or value is True or value is False:
        return value
    # bool is an int subclass that cannot be subclassed: the identity tests took True and False.
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        number = float.__float__(value)
        if math.isfinite(number):
            return number
        return {"$float": "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")}
    if isinstance(value, complex):
        return {
            "$complex": [encode_value(value.real, depth + 1), encode_value(value.imag, depth + 1)]
        }
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list):
        return [encode_value(item, depth + 1) for item in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(item, depth + 1) for item in tuple.__iter__(value)]}
    if isinstance(value, dict):
        pairs = dict.items(value)
        return {
            "$dict": [[encode_value(k, depth + 1), encode_value(v, depth + 1)] for k, v in pairs]
        }
    if isinstance(value, frozenset):
        return {"$frozenset": [encode_value(item, depth + 1) for item in frozenset.__iter__(value)]}
    if isinstance(value, set):
        return {"$set": [encode_value(item, depth + 1) for item in set.__iter__(value)]}
    raise LiteralError(
        f"a {type(value).__name__} object cannot be checked outside the sandbox (only None, bool, "
        "int, float, complex, str, bytes, list, tuple, dict, set and frozenset can)"
    )


_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def decode_value(data: Any, depth: int = 0) -> Any:
    """The value `encode_value` encoded; LiteralError for anything it could not have produced."""
    if depth > MAX_DEPTH:
        raise LiteralError(f"value nested deeper than {MAX_DEPTH} levels")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode_value(item, depth + 1) for item in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise LiteralError("malformed value")
    ((tag, body),) = data.items()
    try:
        if tag == "$float" and body in _FLOATS:
            return _FLOATS[body]
        if tag == "$bytes" and isinstance(body, str):
            return base64.b64decode(body.encode("ascii"), validate=True)
        if not isinstance(body, list):
            raise LiteralError("malformed value")
        if tag == "$complex" and len(body) == 2:
            real, imag = (decode_value(part, depth + 1) for part in body)
            return complex(real, imag)
        items = [decode_value(item, depth + 1) for item in body]
        if tag == "$tuple":
            return tuple(items)
        if tag == "$set":
            return set(items)
        if tag == "$frozenset":
            return frozenset(items)
        if tag == "$dict" and all(isinstance(p, list) and len(p) == 2 for p in items):
            return {key: item for key, item in items}
    except (TypeError, ValueError) as exc:  # an unhashable key, bad base64, a str in complex()
        raise LiteralError(f"malformed value ({exc})") from None
    raise LiteralError("malformed value")


def dumps(message: dict[str, Any]) -> bytes:
    """One protocol message as a line of JSON (allow_nan off: non-finite floats are tagged)."""
    return json.dumps(message, allow_nan=False, separators=(",", ":")).encode("utf-8") + b"\n"


def loads(line: bytes) -> dict[str, Any]:
    """A protocol message from one line; LiteralError when it is not a JSON object."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError) as exc:  # also ints past Python's 4300-digit limit
        raise LiteralError(f"unreadable message ({str(exc)[:80]})") from None
    if not isinstance(message, dict):
        raise LiteralError("unreadable message (not an object)")
    return message
