"""`if_json`: instruction following: produce a JSON object valid against a given JSON Schema.

The schema is printed in the question and `score` reads it back from there, so the check is
exactly what the model was shown. Schemas use a small subset of JSON Schema (see
`scoring.structured.schema_errors`): types, required, enum, numeric and length bounds, arrays with
item types and sizes, and (hard) `additionalProperties: false`. The reference answer is one
object that satisfies the schema.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass

from gapbench.scoring.score import Score
from gapbench.scoring.structured import extract_json_object, schema_errors
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask


@dataclass(frozen=True)
class Prop:
    """A property a record may have: its JSON type, example values, and (for numbers) the
    widest sensible range."""

    type: str
    examples: tuple[object, ...] = ()
    low: int = 0
    high: int = 0


STR, INT, NUM, BOOL, ARR = "string", "integer", "number", "boolean", "array"
RECORDS: dict[str, dict[str, Prop]] = {
    "book": {
        "title": Prop(STR, ("The Silent River", "Paper Moons", "A Map of Salt")),
        "author": Prop(STR, ("Ines Varga", "Tomas Reyes", "Hana Sato")),
        "year": Prop(INT, low=1800, high=2024),
        "pages": Prop(INT, low=40, high=1500),
        "genres": Prop(ARR, ("mystery", "history", "poetry", "travel")),
        "available": Prop(BOOL),
        "rating": Prop(NUM, low=0, high=5),
        "format": Prop(STR, ("hardcover", "paperback", "ebook")),
    },
    "city": {
        "name": Prop(STR, ("Porto", "Nagoya", "Quito")),
        "country": Prop(STR, ("Portugal", "Japan", "Ecuador")),
        "population": Prop(INT, low=1000, high=20_000_000),
        "area_km2": Prop(NUM, low=10, high=5000),
        "coastal": Prop(BOOL),
        "districts": Prop(ARR, ("north", "old town", "harbor", "hills")),
        "climate": Prop(STR, ("temperate", "tropical", "arid", "continental")),
    },
    "recipe": {
        "name": Prop(STR, ("Lentil soup", "Apple cake", "Green curry")),
        "servings": Prop(INT, low=1, high=12),
        "minutes": Prop(INT, low=5, high=240),
        "vegetarian": Prop(BOOL),
        "ingredients": Prop(ARR, ("flour", "lentils", "apples", "rice", "onion")),
        "difficulty": Prop(STR, ("easy", "medium", "hard")),
        "calories": Prop(NUM, low=50, high=1500),
    },
    "employee": {
        "name": Prop(STR, ("Amara Obi", "Lucas Berg", "Priya Nair")),
        "age": Prop(INT, low=18, high=70),
        "department": Prop(STR, ("sales", "research", "finance", "support")),
        "skills": Prop(ARR, ("python", "writing", "negotiation", "design")),
        "remote": Prop(BOOL),
        "salary": Prop(INT, low=20_000, high=250_000),
        "email": Prop(STR, ("amara@example.com", "lucas@example.com")),
    },
    "movie": {
        "title": Prop(STR, ("Night Train", "Glass Harbor", "The Last Orchard")),
        "director": Prop(STR, ("Mateo Silva", "Lena Fischer")),
        "year": Prop(INT, low=1920, high=2024),
        "runtime": Prop(INT, low=60, high=240),
        "genres": Prop(ARR, ("drama", "comedy", "thriller", "animation")),
        "rating": Prop(NUM, low=0, high=10),
        "color": Prop(BOOL),
    },
    "planet": {
        "name": Prop(STR, ("Kepler-22b", "Vesta Prime", "Orin")),
        "moons": Prop(INT, low=0, high=90),
        "mass_earths": Prop(NUM, low=0, high=400),
        "habitable": Prop(BOOL),
        "atmosphere": Prop(ARR, ("nitrogen", "oxygen", "methane", "helium")),
        "type": Prop(STR, ("rocky", "gas giant", "ice giant")),
        "year_length_days": Prop(INT, low=1, high=100_000),
    },
    "product": {
        "name": Prop(STR, ("Desk lamp", "Trail shoes", "Tea kettle")),
        "price": Prop(NUM, low=1, high=2000),
        "stock": Prop(INT, low=0, high=10_000),
        "tags": Prop(ARR, ("sale", "new", "eco", "gift")),
        "category": Prop(STR, ("home", "sports", "kitchen", "garden")),
        "discontinued": Prop(BOOL),
        "sku": Prop(STR, ("LAMP-01", "SHOE-22", "KTL-7")),
    },
    "event": {
        "name": Prop(STR, ("Spring Fair", "Data Meetup", "Harvest Run")),
        "attendees": Prop(INT, low=1, high=50_000),
        "online": Prop(BOOL),
        "speakers": Prop(ARR, ("Felix Wong", "Sofia Rossi", "Omar Haddad")),
        "city": Prop(STR, ("Lyon", "Osaka", "Lima")),
        "ticket_price": Prop(NUM, low=0, high=500),
        "kind": Prop(STR, ("conference", "festival", "race", "workshop")),
    },
    "pet": {
        "name": Prop(STR, ("Biscuit", "Nori", "Pepper")),
        "species": Prop(STR, ("dog", "cat", "rabbit", "parrot")),
        "age_years": Prop(INT, low=0, high=30),
        "weight_kg": Prop(NUM, low=0, high=90),
        "vaccinated": Prop(BOOL),
        "toys": Prop(ARR, ("ball", "rope", "bell", "mouse")),
        "owner": Prop(STR, ("Greta Lund", "Samir Aziz")),
    },
    "course": {
        "title": Prop(STR, ("Intro to Statistics", "Modern Poetry", "Field Botany")),
        "credits": Prop(INT, low=1, high=10),
        "seats": Prop(INT, low=5, high=500),
        "online": Prop(BOOL),
        "topics": Prop(ARR, ("probability", "sampling", "metre", "ferns")),
        "level": Prop(STR, ("beginner", "intermediate", "advanced")),
        "fee": Prop(NUM, low=0, high=3000),
    },
}


@dataclass(frozen=True)
class Level:
    """How many properties and which kinds of constraints a level uses."""

    properties: tuple[int, int]
    constraints: bool
    closed: bool
    """additionalProperties: false (and every property required)."""


LEVELS: dict[Difficulty, Level] = {
    "easy": Level((2, 6), False, False),
    "medium": Level((3, 5), True, False),
    "hard": Level((5, 7), True, True),
}


def _property_schema(rng: random.Random, prop: Prop, constrained: bool) -> dict[str, object]:
    schema: dict[str, object] = {"type": prop.type}
    if not constrained:
        if prop.type == ARR:
            schema["items"] = {"type": "string"}
        return schema
    if prop.type in (INT, NUM):
        low = rng.randint(prop.low, (prop.low + prop.high) // 2)
        high = rng.randint(low + 1, prop.high)
        schema.update(minimum=low, maximum=high)
    elif prop.type == STR and prop.examples and rng.random() < 0.5:
        schema["enum"] = sorted(
            {str(x) for x in rng.sample(prop.examples, min(3, len(prop.examples)))}
        )
    elif prop.type == STR:
        schema.update(minLength=rng.randint(1, 3), maxLength=rng.randint(20, 40))
    elif prop.type == ARR:
        low = rng.randint(1, 3)
        schema.update(items={"type": "string"}, minItems=low, maxItems=low + rng.randint(0, 2))
    return schema


def make_schema(rng: random.Random, difficulty: Difficulty) -> tuple[str, dict[str, object]]:
    """A record kind and an object schema over some of its properties."""
    lv = LEVELS[difficulty]
    kind = rng.choice(sorted(RECORDS))
    props = RECORDS[kind]
    names = rng.sample(sorted(props), rng.randint(*lv.properties))
    names.sort(key=list(props).index)
    properties = {
        n: _property_schema(rng, props[n], lv.constraints and rng.random() < 0.7) for n in names
    }
    required = (
        names
        if lv.closed
        else sorted(rng.sample(names, rng.randint(1, len(names))), key=names.index)
    )
    schema: dict[str, object] = {"type": "object", "properties": properties, "required": required}
    if lv.closed:
        schema["additionalProperties"] = False
    return kind, schema


def example_value(rng: random.Random, prop: Prop, schema: Mapping[str, object]) -> object:
    """A value of `prop` that satisfies its property schema."""
    if "enum" in schema and isinstance(schema["enum"], list):
        return rng.choice(schema["enum"])
    kind = schema["type"]
    if kind == BOOL:
        return rng.random() < 0.5
    if kind in (INT, NUM):
        low, high = schema.get("minimum", prop.low), schema.get("maximum", prop.high)
        assert isinstance(low, int) and isinstance(high, int)
        value = rng.randint(low, high)
        return value if kind == INT or value == high else value + rng.choice((0, 0.5, 0.25))
    if kind == ARR:
        low, high = schema.get("minItems", 1), schema.get("maxItems", 3)
        assert isinstance(low, int) and isinstance(high, int)
        pool = [str(x) for x in prop.examples]
        return [pool[i % len(pool)] for i in range(rng.randint(low, high))]
    text = str(rng.choice(prop.examples)) if prop.examples else "example"
    max_len = schema.get("maxLength")
    return text[:max_len] if isinstance(max_len, int) else text


def parse_schema(question: str) -> dict[str, object]:
    """The schema printed in a question made by this family (ValueError for any other text)."""
    start = question.find("{")
    if start < 0:
        raise ValueError("not an if_json question: it holds no schema")
    schema, _ = json.JSONDecoder().raw_decode(question, start)
    if not isinstance(schema, dict):
        raise ValueError("not an if_json question: its schema is not an object")
    return schema


class IfJsonTask(GeneratedTask):
    """JSON objects valid against a schema: types (easy), bounds and enums (medium), closed
    objects with every property required and sized arrays (hard)."""

    name = "if_json"
    version = "1"
    area = "instruct"
    language = "en"
    description = "Instruction following: produce a JSON object valid against a given JSON Schema."
    answer_format: str | None = None
    instruction = (
        "Reply with the JSON object after 'Answer:' at the end of your reply (a ```json block is "
        "fine). Only that object is checked."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A schema and one object that satisfies it."""
        kind, schema = make_schema(rng, difficulty)
        props = RECORDS[kind]
        properties = schema["properties"]
        assert isinstance(properties, dict)
        example = {name: example_value(rng, props[name], sub) for name, sub in properties.items()}
        question = (
            f"Write a JSON object that describes a {kind} and is valid against this JSON Schema:\n"
            f"{json.dumps(schema, indent=2)}"
        )
        answer = json.dumps(example, ensure_ascii=False)
        return Built(question, answer, f"Answer: {answer}")

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the extracted object satisfies the question's schema; extraction fails
        when the output holds no JSON object at all."""
        schema = parse_schema(instance.question)
        found, method = extract_json_object(output)
        if found is None:
            return Score(False, None, False, method)
        text = json.dumps(found, ensure_ascii=False, sort_keys=True)
        return Score(not schema_errors(found, schema), text[:500], True, method)
