"""`zh_numbers` and `ja_numbers`: conversions checked with numeral readers written here, and the
scorers' insistence on the asked-for script."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch

from gapbench.scoring.numbers import parse_cjk_number, to_chinese_numeral, to_japanese_numeral
from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.cjk_numbers import JaNumbersTask, ZhNumbersTask

DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "两": 2}
SMALL = {"十": 10, "百": 100, "千": 1000}
BIG = {"万": 10**4, "亿": 10**8, "億": 10**8}
SIZES = {"easy": (3, 5), "medium": (6, 8), "hard": (9, 12)}


def read_numeral(text: str) -> int:
    """Standard Chinese or Japanese numerals, read group by group. 零 only marks a gap, so the
    same reader serves both: 一千零五 and 千五 are 1005 (no colloquial 一万五 here)."""
    total, group, digit = 0, 0, 0
    for ch in text:
        if ch in DIGITS:
            digit = DIGITS[ch]
        elif ch in SMALL:
            group += (digit or 1) * SMALL[ch]
            digit = 0
        else:
            # 亿 after 万 within one number never happens below 10**12, so no nesting needed.
            total += (group + digit) * BIG[ch]
            group, digit = 0, 0
    return total + group + digit


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    if inst.answer.isdigit():  # characters in the question, digits asked for
        m = re.search(r"[：「“]([〇零一二两三四五六七八九十百千万亿億]+)", inst.question)
        assert m, inst.question
        assert read_numeral(m[1]) == int(inst.answer), inst.question
    else:
        m = re.search(r"(\d[\d,]*)", inst.question)
        assert m, inst.question
        assert read_numeral(inst.answer) == int(m[1].replace(",", "")), inst.question


CASES = [(name, level) for name in ("zh_numbers", "ja_numbers") for level in DIFFICULTIES]


@pytest.mark.parametrize(("name", "difficulty"), CASES)
def test_conversions_are_right_both_ways(name: str, difficulty: Difficulty) -> None:
    directions = {"digits": 0, "chars": 0}
    for inst in batch(name, difficulty):
        if inst.answer.isdigit():  # characters in the question, digits asked for
            m = re.search(r"[：「“]([〇零一二两三四五六七八九十百千万亿億]+)", inst.question)
            assert m, inst.question
            assert read_numeral(m[1]) == int(inst.answer), inst.question
            value = int(inst.answer)
            directions["digits"] += 1
        else:
            m = re.search(r"(\d[\d,]*)", inst.question)
            assert m, inst.question
            value = int(m[1].replace(",", ""))
            assert read_numeral(inst.answer) == value, inst.question
            directions["chars"] += 1
        lo, hi = SIZES[difficulty]
        assert lo <= len(str(value)) <= hi
    assert min(directions.values()) > 400  # both directions are asked


def test_chinese_uses_ling_and_yi_and_japanese_does_not() -> None:
    zh = [i.answer for i in batch("zh_numbers", "hard") if not i.answer.isdigit()]
    ja = [i.answer for i in batch("ja_numbers", "hard") if not i.answer.isdigit()]
    assert any("零" in a for a in zh) and all("億" not in a for a in zh)
    assert all("零" not in a and "亿" not in a for a in ja) and any("億" in a for a in ja)


@given(st.integers(0, 10**12 - 1))
def test_japanese_numerals_round_trip(n: int) -> None:
    text = to_japanese_numeral(n)
    assert read_numeral(text) == n
    assert parse_cjk_number(text, colloquial=False) == n
    assert "零" not in text and not text.startswith(("一十", "一百", "一千"))


@given(st.integers(0, 10**12 - 1))
def test_chinese_numerals_round_trip(n: int) -> None:
    assert read_numeral(to_chinese_numeral(n)) == n


ZH = ZhNumbersTask()
JA = JaNumbersTask()


def _inst(task: ZhNumbersTask | JaNumbersTask, answer: str):  # type: ignore[no-untyped-def]
    inst = task.instance(0, 0, "medium")
    return type(inst)(**{**inst.__dict__, "answer": answer})


@pytest.mark.parametrize(
    ("task", "answer", "output", "correct"),
    [
        (ZH, "30050000", "答案：30050000", True),
        (ZH, "30050000", "答案：30,050,000", True),
        (ZH, "30050000", "答案：３００５００００", True),  # full-width digits
        (ZH, "30050000", "答案：三千零五万", False),  # characters, but digits were asked for
        (ZH, "30050000", "答案：3005000", False),
        (ZH, "三千零五万", "答案：三千零五万", True),
        (ZH, "三千零五万", "答案：三千零五十万", False),
        (ZH, "三千零五万", "答案：30050000", False),  # digits, but characters were asked for
        (ZH, "三千零五万", "答案：三〇〇五〇〇〇〇", False),  # positional: no 万
        (ZH, "两千", "答案：二千", True),
        (ZH, "一万零五", "答案：一万五", False),  # Chinese colloquial 一万五 is 15000
        (JA, "一万五", "答え：一万五", True),  # Japanese: 一万五 is 10005
        (JA, "一万五", "答え：一万零五", True),
        (JA, "千五", "答え：一千五", True),
        (JA, "千五", "答え：千五百", False),
        (JA, "三千五万", "答え：三千五万です。", True),
        (JA, "三千五万", "答え：3005万", False),
        (JA, "30050000", "答え：30050000", True),
        (JA, "30050000", "答え：三千五万", False),
    ],
)
def test_scoring_insists_on_the_asked_script(
    task: ZhNumbersTask | JaNumbersTask, answer: str, output: str, correct: bool
) -> None:
    assert task.score(_inst(task, answer), output).correct is correct


def test_no_numeral_in_the_answer_line_is_unreadable() -> None:
    score = JA.score(_inst(JA, "千五"), "答え：わかりません")
    assert not score.extraction_ok
