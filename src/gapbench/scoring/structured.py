"""Answer readers for families whose answer is not one number: integer lists, sets of names,
numerals in a required script, calendar dates, Japanese era years, JSON objects and free text.

Every reader takes the same evidence order as `extract.py`, via `read_answer`: the last explicit
answer line, then the last \\boxed{}, then the last non-blank line of the output. A reader returns
None when a piece of text holds no answer of its kind; `read_answer` turns that into the same
methods ('answer-line', 'answer-line-unreadable', 'boxed', 'last-line', 'none').
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from gapbench.scoring.extract import (
    ANSWER_LINE,
    ANSWER_LINE_UNREADABLE,
    BOXED,
    NONE,
    answer_segments,
    boxed_contents,
    grade_number,
    is_template_line,
    last_answer_label_end,
    numbers_equal,
    strip_think,
)
from gapbench.scoring.numbers import CJK_NUMERAL_CHARS, FULLWIDTH, parse_cjk_number, parse_number
from gapbench.scoring.score import Score

T = TypeVar("T")
LAST_LINE = "last-line"
WHOLE_OUTPUT = "whole-output"


# A list marker opening the last line ('5. <結果>は54,773です。') is numbering, not content.
_LEADING_MARKER_RE = re.compile(r"^[ \t]*+\d{1,3}[.)](?=[ \t])")


def read_answer(
    output: str,
    read: Callable[[str], T | None],
    last_line: Callable[[str], T | None] | None = None,
) -> tuple[T | None, str]:
    """(value, method): what `read` finds in the strongest evidence of a raw model output; the
    last line is read with `last_line` when given (an unlabelled sentence may end with its
    result, where an answer line starts with it)."""
    text, _ = strip_think(output)
    for segment, weak in answer_segments(text):
        value = read(segment)
        if value is not None:
            return value, ANSWER_LINE
        if not weak:
            return None, ANSWER_LINE_UNREADABLE
    for content in boxed_contents(text):
        value = read(content)
        if value is not None:
            return value, BOXED
    # A parroted template line ('答え：<答え>') is no last word: the line before it is.
    lines = [
        line
        for line in text.translate(FULLWIDTH).splitlines()
        if line.strip() and not is_template_line(line)
    ]
    if lines:
        value = (last_line or read)(_LEADING_MARKER_RE.sub("", lines[-1]))
        if value is not None:
            return value, LAST_LINE
    return None, NONE


# --- integer lists ---------------------------------------------------------------------------

_BRACKETED_RE = re.compile(r"\[([^\[\]]*)\]")
_INT_ITEMS_RE = re.compile(r"\s*(?:-?\d+(?:\s*,\s*-?\d+)*)?\s*")
_BARE_LIST_RE = re.compile(r"[\s*`]*(-?\d+(?:\s*,\s*-?\d+)*)[\s*`.。]*")
# 'The final list is: 5, 7, 3, 7': a bare list of two or more items ending the line after a colon.
_LED_LIST_RE = re.compile(r"[:：][\s*`]*+(-?\d++(?:\s*+,\s*+-?\d++)++)[\s*`.。]*+$")


def read_int_list(segment: str) -> tuple[int, ...] | None:
    """The first bracketed integer list ('[3, -1, 4]', '[]'), or a bare '3, -1, 4' making up the
    whole segment or ending it after a colon; None otherwise. A bare single number making up the
    whole segment also counts as a one-item list."""
    for m in _BRACKETED_RE.finditer(segment):
        if _INT_ITEMS_RE.fullmatch(m.group(1)):
            return tuple(int(x) for x in re.findall(r"-?\d+", m.group(1)))
    bare = _BARE_LIST_RE.fullmatch(segment) or _LED_LIST_RE.search(segment)
    if bare:
        return tuple(int(x) for x in re.findall(r"-?\d+", bare.group(1)))
    return None


def format_int_list(values: Iterable[int]) -> str:
    """Canonical list text: '[3, -1, 4]'."""
    return "[" + ", ".join(str(v) for v in values) + "]"


# --- sets of names -------------------------------------------------------------------------

NOBODY_WORDS = ("none", "nobody", "no one", "neither")


def name_set_reader(
    names: Iterable[str], nobody: Iterable[str] = NOBODY_WORDS
) -> Callable[[str], frozenset[str] | None]:
    """A reader for 'Alice, Chloe' / 'Alice and Chloe' / 'none': the set of `names` mentioned
    (case-insensitive, whole words), the empty set for a 'nobody' word alone, else None."""
    by_fold = {n.casefold(): n for n in names}
    name_re = re.compile(
        r"(?<![A-Za-z])(" + "|".join(re.escape(n) for n in by_fold) + r")(?![A-Za-z])",
        re.IGNORECASE,
    )
    nobody_re = re.compile(
        r"(?<![A-Za-z])(" + "|".join(re.escape(w) for w in nobody) + r")(?![A-Za-z])",
        re.IGNORECASE,
    )

    def read(segment: str) -> frozenset[str] | None:
        found = frozenset(by_fold[m.group().casefold()] for m in name_re.finditer(segment))
        if found:
            return found
        return frozenset() if nobody_re.search(segment) else None

    return read


# --- numerals in a required script -------------------------------------------------------------

# Digit groups are read whole even when the grouping is malformed ('1,000,7' is one wrong number,
# not 1,000 followed by noise).
_NUMERAL_TOKEN_RE = re.compile(
    rf"(?<![\d.])\d{{1,3}}(?:,\d{{3}})+(?:,\d{{1,2}}(?!\d))?(?!\d)|\d+|[{CJK_NUMERAL_CHARS}]+"
)
_UNIT_CHARS = set("十拾百佰千仟万萬亿億")


def read_numeral_token(segment: str) -> str | None:
    """The first number token as written: Arabic digits ('352,004,010') or a run of CJK numerals."""
    m = _NUMERAL_TOKEN_RE.search(segment)
    return None if m is None else m.group()


def arabic_value(token: str) -> int | None:
    """The value of a token written in Arabic digits (commas allowed); None for CJK numerals."""
    if not re.fullmatch(r"\d+|\d{1,3}(?:,\d{3})+", token):
        return None
    return int(token.replace(",", ""))


def kanji_value(token: str, *, colloquial: bool) -> int | None:
    """The value of a token written wholly in CJK numerals with place units (三億五千万, 十五);
    None for Arabic digits or positional digit strings such as 一〇〇五, which skip the units."""
    if not token or any(ch not in CJK_NUMERAL_CHARS for ch in token):
        return None
    if len(token) > 1 and not any(ch in _UNIT_CHARS for ch in token):
        return None
    value = parse_cjk_number(token, colloquial=colloquial)
    if value is None or value.denominator != 1:
        return None
    return int(value)


def read_japanese_number(segment: str) -> int | None:
    """An integer written in digits or in Japanese kanji (no 零: 千五 = 1005); '元' reads 1, as
    in 元年, the first year of an era."""
    segment = re.sub(r"元(?=\s*年)", "1", segment)
    if "=" in segment:  # '500 + 750 = 1250': the result follows the last '='
        tail = segment[segment.rfind("=") + 1 :]
        segment = tail if read_numeral_token(tail) is not None else segment
    token = read_numeral_token(segment)
    if token is None:
        return None
    value = arabic_value(token)
    if value is None:
        value = kanji_value(token, colloquial=False)
    if value is None:
        parsed = parse_number(token)  # e.g. a positional 二〇二四
        value = int(parsed) if parsed is not None and parsed.denominator == 1 else None
    if value is not None and re.search(rf"(?:-|マイナス|負)\s*{re.escape(token)}", segment):
        value = -value
    return value


def read_last_japanese_number(segment: str) -> int | None:
    """The last number of a line, read as read_japanese_number reads the first: a sentence with
    no answer label ends with its result ('大正2年に生まれた人は…14歳になります'). A lone kanji
    numeral counts only when nothing else does, being as often part of a word (一緒, 十分)."""
    segment = re.sub(r"元(?=\s*年)", "1", segment)
    tokens = list(_NUMERAL_TOKEN_RE.finditer(segment))
    strong = [t for t in tokens if len(t.group()) > 1 or t.group().isdigit()]
    chosen = (strong or tokens)[-1:] if tokens else []
    if not chosen:
        return None
    start = chosen[0].start()
    signed = segment[:start].rstrip().endswith(("-", "マイナス", "負"))
    return read_japanese_number(("-" if signed else "") + segment[start:])


def grade_japanese_number(reference: str, output: str) -> Score:
    """Like grade_number, but kanji answers are read the Japanese way (千五 = 1005, not the
    Chinese colloquial 1500) and 元年 reads as year 1; outputs with no answer line or boxed
    answer are read from the last number of their last line, else as grade_number reads them
    (the last number)."""
    got, method = read_answer(output, read_japanese_number, read_last_japanese_number)
    if got is None and method == NONE:
        return grade_number(reference, output)
    extracted = None if got is None else str(got)
    return Score(
        got is not None and numbers_equal(str(got), reference), extracted, got is not None, method
    )


# --- dates and era years -------------------------------------------------------------------------

_DATE_RES = (
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
    re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"),
)


def read_date(segment: str) -> dt.date | None:
    """The first Gregorian date: '2020-06-18', '2020/6/18' or '2020年6月18日'."""
    for pattern in _DATE_RES:
        m = pattern.search(segment)
        if m:
            try:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return None
    return None


ERA_NAMES = ("明治", "大正", "昭和", "平成", "令和")
_ERA_YEAR_RE = re.compile(rf"({'|'.join(ERA_NAMES)})\s*(元|\d+|[{CJK_NUMERAL_CHARS}]+)\s*年?")


def read_era_year(segment: str) -> tuple[str, int] | None:
    """The first era year ('平成31年', '令和元年', '昭和六十四年') as (era, year)."""
    m = _ERA_YEAR_RE.search(segment)
    if m is None:
        return None
    year = read_japanese_number(m.group(2) + "年")
    return None if year is None or year < 1 else (m.group(1), year)


# --- JSON -------------------------------------------------------------------------------------

_MAX_JSON_TRIES = 200


def json_objects(text: str) -> list[dict[str, object]]:
    """Top-level JSON objects found left to right (bounded work on hostile outputs)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, object]] = []
    pos, tries = 0, 0
    while tries < _MAX_JSON_TRIES:
        start = text.find("{", pos)
        if start < 0:
            break
        tries += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        if isinstance(value, dict):
            found.append(value)
        pos = end
    return found


def extract_json_object(output: str) -> tuple[dict[str, object] | None, str]:
    """(object, method): the first JSON object after the last answer label, else the last JSON
    object anywhere (fenced or not) in the output after <think> is stripped."""
    text, _ = strip_think(output)
    label_end = last_answer_label_end(text)
    if label_end is not None:
        after = json_objects(text[label_end:])
        if after:
            return after[0], ANSWER_LINE
    everywhere = json_objects(text)
    return (everywhere[-1], WHOLE_OUTPUT) if everywhere else (None, NONE)


_JSON_TYPES: Mapping[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value: object, schema: Mapping[str, object], path: str = "$") -> list[str]:
    """Why `value` violates `schema` (empty when it conforms), for the JSON Schema subset the
    instruction tasks generate: type, properties, required, additionalProperties (false), enum,
    minimum, maximum, minLength, maxLength, items, minItems, maxItems."""
    kind = schema.get("type")
    if isinstance(kind, str) and not _JSON_TYPES[kind](value):
        return [f"{path}: expected {kind}"]
    errors: list[str] = []
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        errors.append(f"{path}: not one of {enum}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, int | float) and value < low:
            errors.append(f"{path}: below {low}")
        if isinstance(high, int | float) and value > high:
            errors.append(f"{path}: above {high}")
    if isinstance(value, str):
        errors += _size_errors(path, len(value), schema, "minLength", "maxLength")
    if isinstance(value, list):
        errors += _size_errors(path, len(value), schema, "minItems", "maxItems")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                errors += schema_errors(item, items, f"{path}[{i}]")
    if isinstance(value, dict):
        properties = schema.get("properties")
        props: Mapping[str, object] = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        for key in required if isinstance(required, list) else []:
            if key not in value:
                errors.append(f"{path}: missing '{key}'")
        for key, item in value.items():
            sub = props.get(key)
            if isinstance(sub, dict):
                errors += schema_errors(item, sub, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected '{key}'")
    return errors


def _size_errors(
    path: str, size: int, schema: Mapping[str, object], low_key: str, high_key: str
) -> list[str]:
    low, high = schema.get(low_key), schema.get(high_key)
    errors = []
    if isinstance(low, int) and size < low:
        errors.append(f"{path}: fewer than {low}")
    if isinstance(high, int) and size > high:
        errors.append(f"{path}: more than {high}")
    return errors


# --- free text ------------------------------------------------------------------------------

WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
"""A word: letters and digits; inner apostrophes and hyphens join (don't, well-known)."""


def response_text(output: str) -> tuple[str, str]:
    """(response, method): the text after the last answer label, else the whole output, with
    <think> stripped and surrounding quotes or bold markers removed."""
    text, _ = strip_think(output)
    label_end = last_answer_label_end(text)
    body, method = (text, WHOLE_OUTPUT) if label_end is None else (text[label_end:], ANSWER_LINE)
    return body.strip().strip("*_\"'“”` \n"), method


def words_of(text: str) -> list[str]:
    """The words of `text` in order, as WORD_RE defines them."""
    return WORD_RE.findall(text)
