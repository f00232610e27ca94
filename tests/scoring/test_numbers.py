"""Number parsing and Chinese numerals, checked against how Chinese and Japanese write numbers."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gapbench.scoring.numbers import format_number, parse_number, to_chinese_numeral

# Standard readings (textbook facts, not outputs of our code).
STANDARD = {
    0: "零",
    7: "七",
    10: "十",
    15: "十五",
    20: "二十",
    105: "一百零五",
    110: "一百一十",
    325: "三百二十五",
    1005: "一千零五",
    1050: "一千零五十",
    10000: "一万",
    10001: "一万零一",
    10500: "一万零五百",
    12000: "一万二千",
    100000: "十万",
    100005: "十万零五",
    110000: "十一万",
    1000000: "一百万",
    10010000: "一千零一万",
    100000000: "一亿",
    300000000: "三亿",
    120000000: "一亿二千万",
}


@pytest.mark.parametrize(("n", "text"), sorted(STANDARD.items()))
def test_standard_chinese_numerals(n: int, text: str) -> None:
    assert to_chinese_numeral(n) == text
    assert parse_number(text) == n


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("两千零五", 2005),
        ("两百", 200),
        ("一万五", 15000),  # colloquial: the trailing digit counts one unit down
        ("二百五", 250),
        ("三千二", 3200),
        ("一百一", 110),
        ("二〇二四", 2024),
        ("一万亿", 10**12),
        ("壹佰", 100),
        ("贰拾叁", 23),
        ("1.2万", 12000),
        ("3億", 300_000_000),
        ("3万5千", 35000),
        ("千", 1000),
        ("负五", -5),
        ("-1,234.50", Fraction(-2469, 2)),
        ("$12", 12),
        ("１２", 12),
        ("3/4", Fraction(3, 4)),
    ],
)
def test_parse_number(text: str, value: Fraction | int) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "-", "十百", "一三万", "abc", "1/0", "1.2.3", "万万", "3一"])
def test_parse_number_rejects_malformed(text: str) -> None:
    assert parse_number(text) is None


def test_liang_is_used_where_speech_uses_it() -> None:
    assert to_chinese_numeral(2005, liang=True) == "两千零五"
    assert to_chinese_numeral(22, liang=True) == "二十二"  # never before 十 or as the last digit
    assert to_chinese_numeral(20000, liang=True) == "两万"


def test_every_number_below_30000_round_trips() -> None:
    for n in range(30000):
        assert parse_number(to_chinese_numeral(n)) == n
        assert parse_number(to_chinese_numeral(n, liang=True)) == n


@given(st.integers(min_value=0, max_value=10**12 - 1), st.booleans())
def test_large_numbers_round_trip(n: int, liang: bool) -> None:
    assert parse_number(to_chinese_numeral(n, liang)) == n


def test_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        to_chinese_numeral(10**12)
    with pytest.raises(ValueError):
        to_chinese_numeral(-1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(42), "42"),
        (Fraction(-7), "-7"),
        (Fraction(5, 2), "2.5"),
        (Fraction(1, 8), "0.125"),
        (Fraction(1, 3), "1/3"),
        (Fraction(-1, 20), "-0.05"),
        (Fraction(0), "0"),
    ],
)
def test_format_number(value: Fraction, text: str) -> None:
    assert format_number(value) == text


@given(st.fractions())
def test_format_then_parse_is_identity(value: Fraction) -> None:
    assert parse_number(format_number(value)) == value
