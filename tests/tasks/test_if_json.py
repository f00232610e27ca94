"""`if_json`: reference objects validated by a JSON Schema checker written here, and the scorer
compared with it on mutated objects."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.if_json import IfJsonTask

TASK = IfJsonTask()
TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool,
    "integer": int, "number": (int, float),
}  # fmt: skip


def valid(value: Any, schema: dict[str, Any]) -> bool:
    """The JSON Schema keywords the family uses, checked the straightforward way."""
    expected = schema.get("type")
    if expected is not None:
        if isinstance(value, bool) and expected != "boolean":
            return False
        if not isinstance(value, TYPES[expected]):
            return False
    checks = [
        "enum" not in schema or value in schema["enum"],
        "minimum" not in schema or value >= schema["minimum"],
        "maximum" not in schema or value <= schema["maximum"],
        "minLength" not in schema or len(value) >= schema["minLength"],
        "maxLength" not in schema or len(value) <= schema["maxLength"],
        "minItems" not in schema or len(value) >= schema["minItems"],
        "maxItems" not in schema or len(value) <= schema["maxItems"],
        "items" not in schema or all(valid(v, schema["items"]) for v in value),
        all(key in value for key in schema.get("required", [])),
        schema.get("additionalProperties", True) or set(value) <= set(schema["properties"]),
        all(valid(value[k], s) for k, s in schema.get("properties", {}).items() if k in value),
    ]
    return all(checks)


def schema_of(question: str) -> dict[str, Any]:
    schema = json.loads(question[question.index("{") :])
    assert isinstance(schema, dict)
    return schema


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert valid(json.loads(inst.answer), schema_of(inst.question)), inst


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_reference_objects_are_valid(difficulty: Difficulty) -> None:
    for inst in batch("if_json", difficulty):
        schema = schema_of(inst.question)
        assert valid(json.loads(inst.answer), schema), inst
        assert schema["type"] == "object" and schema["required"]
        assert (schema.get("additionalProperties") is False) == (difficulty == "hard")


def mutations(obj: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Objects near the reference, some valid and some not."""
    out = []
    for key in list(obj):
        out.append({k: v for k, v in obj.items() if k != key})  # drop a property
        out.append({**obj, key: "text"})  # change its type (valid only for strings)
        out.append({**obj, key: None})
        if isinstance(obj[key], int | float) and not isinstance(obj[key], bool):
            out.append({**obj, key: obj[key] + 10**6})
            out.append({**obj, key: float(obj[key]) + 0.5})
        if isinstance(obj[key], list):
            out.append({**obj, key: []})
            out.append({**obj, key: obj[key] * 3})
            out.append({**obj, key: [1, 2]})
        if isinstance(obj[key], str):
            out.append({**obj, key: "x" * 50})
    out.append({**obj, "extra_field": 1})
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_scorer_agrees_with_an_independent_validator(
    seed: int, index: int, difficulty: Difficulty
) -> None:
    inst = TASK.instance(seed, index, difficulty)
    schema, reference = schema_of(inst.question), json.loads(inst.answer)
    for obj in [reference, *mutations(reference, schema)]:
        output = f"Here you go.\nAnswer: {json.dumps(obj)}"
        assert TASK.score(inst, output).correct == valid(obj, schema), obj


def test_mutations_do_break_objects() -> None:
    broken = 0
    for inst in batch("if_json", "hard")[:50]:
        schema, reference = schema_of(inst.question), json.loads(inst.answer)
        broken += sum(not valid(obj, schema) for obj in mutations(reference, schema))
    assert broken > 500


@pytest.mark.parametrize(
    ("output", "ok", "correct"),
    [
        ('Answer: {"name": "Nori", "age": 3}', True, True),
        ('```json\n{"name": "Nori", "age": 3}\n```', True, True),
        (
            'Sure! Here is the object:\n{\n  "name": "Nori",\n  "age": 3\n}\nHope it helps.',
            True,
            True,
        ),
        ('<think>{"name": 1}</think>Answer: {"name": "Nori", "age": 3}', True, True),
        ('First try {"name": 1}. Final: {"name": "Nori", "age": 3}', True, True),  # last object
        ('Answer: {"name": "Nori", "age": "3"}', True, False),
        ('Answer: {"name": "Nori"}', True, False),
        ('Answer: {"name": "Nori", "age": 3, "owner": "x"}', True, False),
        ("Answer: {'name': 'Nori', 'age': 3}", False, False),  # Python, not JSON
        ("I cannot produce JSON.", False, False),
        ("Answer: [1, 2, 3]", False, False),
    ],
)
def test_scoring_formats(output: str, ok: bool, correct: bool) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    question = f"Write a JSON object valid against this JSON Schema:\n{json.dumps(schema)}"
    inst = TASK.instance(0, 0, "easy")
    inst = type(inst)(**{**inst.__dict__, "question": question})
    score = TASK.score(inst, output)
    assert (score.extraction_ok, score.correct) == (ok, correct)


def test_hostile_output_is_handled_quickly() -> None:
    import time

    inst = TASK.instance(0, 0, "hard")
    start = time.perf_counter()
    score = TASK.score(inst, "{" * 100_000 + '"a": ' * 1000)
    assert not score.extraction_ok and time.perf_counter() - start < 2
    assert re.search(r"JSON Schema", inst.question)
