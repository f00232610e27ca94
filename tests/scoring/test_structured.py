"""Answer readers for lists, name sets, numerals by script, dates, era years, JSON and free text."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gapbench.scoring.extract import last_answer_label_end
from gapbench.scoring.numbers import parse_cjk_number, to_japanese_numeral
from gapbench.scoring.structured import (
    arabic_value,
    extract_json_object,
    format_int_list,
    kanji_value,
    name_set_reader,
    read_answer,
    read_date,
    read_era_year,
    read_int_list,
    read_japanese_number,
    response_text,
    schema_errors,
    words_of,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[3, -1, 4]", (3, -1, 4)),
        ("the list [ 3,-1 , 4 ] at last", (3, -1, 4)),
        ("[]", ()),
        ("3, -1, 4", (3, -1, 4)),
        ("**3, -1, 4.**", (3, -1, 4)),
        ("7", (7,)),
        ("[a, b]", None),
        ("the numbers 3 and 4", None),
        # a bare list after a colon ends the line (found by the extraction audit)
        ("The final list is: 5, 7, 3, 7", (5, 7, 3, 7)),
        ("The final list is: 5, 7, 3, 7.", (5, 7, 3, 7)),
        ("Step 2: 5", None),  # one number after a colon is no list
        ("Result: 5, 7, then 3", None),
    ],
)
def test_read_int_list(text: str, expected: tuple[int, ...] | None) -> None:
    assert read_int_list(text) == expected


@given(st.lists(st.integers(-(10**6), 10**6), max_size=12))
def test_int_lists_round_trip(values: list[int]) -> None:
    assert read_int_list(format_int_list(values)) == tuple(values)


def test_name_sets() -> None:
    read = name_set_reader(["Alice", "Bruno", "Chloe"])
    assert read("Alice and chloe") == frozenset({"Alice", "Chloe"})
    assert read("None of them") == frozenset()
    assert read("Alicea") is None and read("nobody knows, Bruno") == frozenset({"Bruno"})


@pytest.mark.parametrize(
    ("token", "colloquial", "value"),
    [
        ("三億五千万", False, 350_000_000),
        ("千五", False, 1005),
        ("千五", True, 1500),
        ("十五", False, 15),
        ("一〇〇五", False, None),  # positional: no units
        ("五", False, 5),
        ("3億", False, None),  # mixed with digits
        ("", False, None),
    ],
)
def test_kanji_value(token: str, colloquial: bool, value: int | None) -> None:
    assert kanji_value(token, colloquial=colloquial) == value


def test_arabic_value() -> None:
    assert arabic_value("352,004,010") == 352_004_010 and arabic_value("12") == 12
    assert arabic_value("三") is None and arabic_value("1,23") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1005円", 1005),
        ("千五円", 1005),
        ("令和元年", 1),
        ("500 + 505 = 1005", 1005),
        ("マイナス5", -5),
        ("二〇二四年", 2024),
        ("なし", None),
    ],
)
def test_read_japanese_number(text: str, value: int | None) -> None:
    assert read_japanese_number(text) == value


@given(st.integers(1, 10**12 - 1))
def test_japanese_numerals_read_back(n: int) -> None:
    text = to_japanese_numeral(n)
    assert read_japanese_number(text) == n == parse_cjk_number(text, colloquial=False)


def test_dates_and_era_years() -> None:
    assert read_date("2020年6月18日です") == dt.date(2020, 6, 18)
    assert read_date("on 2020/6/18") == read_date("2020-06-18") == dt.date(2020, 6, 18)
    assert read_date("2019-02-30") is None and read_date("June 18") is None
    assert read_era_year("平成31年です") == ("平成", 31)
    assert read_era_year("令和元年") == ("令和", 1)
    assert read_era_year("昭和六十四年") == ("昭和", 64)
    assert read_era_year("2019年") is None


def test_read_answer_evidence_order() -> None:
    def read(segment: str) -> str | None:
        return "hit" if "x" in segment else None

    assert read_answer("x\nAnswer: x", read) == ("hit", "answer-line")
    assert read_answer("x\nAnswer: nothing", read) == (None, "answer-line-unreadable")
    assert read_answer("the answer is nothing\n\\boxed{x}", read) == ("hit", "boxed")
    assert read_answer("nothing\nx", read) == ("hit", "last-line")
    assert read_answer("x\nnothing", read) == (None, "none")
    assert read_answer("<think>Answer: x</think>", read) == (None, "none")
    # A parroted template line is neither an answer line nor the last line (found by the audit).
    assert read_answer("x\n答え：<答え>", read) == ("hit", "last-line")
    assert read_answer("x\nAnswer: [a, b, c, ...]", read) == ("hit", "last-line")


def test_last_line_fallback_reads_past_list_markers_and_can_read_the_last_number() -> None:
    # Found by the extraction audit: '5. <結果>は54,773です。' read its list marker 5.
    assert read_answer("a\n5. It is 54,773", lambda s: s.split()[0]) == ("It", "last-line")
    last = read_answer("x\n2 and 14", lambda s: s[0], lambda s: s[-1])
    assert last == ("4", "last-line")


def test_japanese_sentence_without_answer_line_is_read_at_its_end() -> None:
    from gapbench.scoring.structured import grade_japanese_number, read_last_japanese_number

    reply = "大正2年に生まれた人は、昭和34年の誕生日に14歳になります。"  # found by the audit
    assert grade_japanese_number("46", reply).extracted == "14"
    assert read_last_japanese_number("今は千五円と十分です") == 1005  # a lone 十 is a word
    assert read_last_japanese_number("令和元年") == 1
    assert read_last_japanese_number("差はマイナス5です") == -5
    assert grade_japanese_number("5", "答え：5\n(2と3)").extracted == "5"  # the label still wins


def test_digits_fused_with_numeral_characters_are_one_answer() -> None:
    # Found by the extraction audit: '答案：<1,111万>' was read as '万'.
    from gapbench.tasks.registry import get_task

    task = get_task("zh_numbers")
    instance = next(
        i for i in (task.instance(1, k, "easy") for k in range(20)) if not i.answer.isdigit()
    )
    assert task.score(instance, "答案：60,860,000 = 60,860万").extracted == "60,860万"
    assert task.score(instance, "答案：三万零五").extracted == "三万零五"


def test_malformed_digit_grouping_is_one_token() -> None:
    # Found by the extraction audit: '1,000,7' (for 一百零七) is one malformed number, not 1,000.
    from gapbench.scoring.structured import read_numeral_token

    assert read_numeral_token("答案：1,000,7") == "1,000,7"
    assert arabic_value("1,000,7") is None
    assert read_numeral_token("352,004,010 and 12") == "352,004,010"
    assert read_numeral_token("1,234") == "1,234"


def test_json_objects() -> None:
    assert extract_json_object('Answer: {"a": 1} and {"b": 2}') == ({"a": 1}, "answer-line")
    assert extract_json_object('{"a": 1} then {"b": {"c": 2}}') == ({"b": {"c": 2}}, "whole-output")
    assert extract_json_object("Answer: none\n{broken") == (None, "none")


def test_schema_errors() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 3},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
            "kind": {"type": "string", "enum": ["a", "b"]},
        },
        "required": ["n"],
        "additionalProperties": False,
    }
    assert schema_errors({"n": 2, "tags": ["x"], "kind": "a"}, schema) == []
    assert schema_errors({"n": True}, schema) == ["$.n: expected integer"]
    assert schema_errors({"n": 2.0}, schema) == ["$.n: expected integer"]
    assert schema_errors({"n": 4}, schema) == ["$.n: above 3"]
    assert schema_errors({"n": 1, "tags": [1]}, schema) == ["$.tags[0]: expected string"]
    assert schema_errors({"n": 1, "tags": []}, schema) == ["$.tags: fewer than 1"]
    assert schema_errors({"n": 1, "kind": "c"}, schema) == ["$.kind: not one of ['a', 'b']"]
    assert schema_errors({"x": 1}, schema) == ["$: missing 'n'", "$: unexpected 'x'"]
    assert schema_errors([], schema) == ["$: expected object"]


def test_free_text_response_and_words() -> None:
    assert response_text("thinking...\nAnswer: **Hello there.**") == ("Hello there.", "answer-line")
    assert response_text("<think>x</think>Just this.") == ("Just this.", "whole-output")
    assert words_of("Don't stop, well-known 42 times!") == [
        "Don't",
        "stop",
        "well-known",
        "42",
        "times",
    ]
    assert last_answer_label_end("Answer: a\nthe answer is b") == len("Answer:")
    assert last_answer_label_end("no label") is None


@pytest.mark.parametrize(
    "text",
    [
        "The list: " + "1, " * 30_000 + "x",
        ":1,2" * 25_000,
        "マイナス " * 20_000 + "5",
        "答え：<答え>\n" * 10_000,
        "1,000," * 15_000,
        "5. " * 30_000,
    ],
)
def test_readers_are_linear_on_hostile_lines(text: str) -> None:
    import time

    from gapbench.scoring.structured import grade_japanese_number

    started = time.perf_counter()
    read_answer(text, read_int_list)
    grade_japanese_number("5", text)
    assert time.perf_counter() - started < 2.0  # linear: milliseconds; quadratic: minutes
