"""`ja_era`: answers recomputed with an era table written here and Python's datetime."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.ja_era import JaEraTask, date_text, era_of

TASK = JaEraTask()
# 元年 of each era, and the first day of the eras that full dates (1927 onward) can fall in.
GANNEN = {"明治": 1868, "大正": 1912, "昭和": 1926, "平成": 1989, "令和": 2019}
LAST = {"明治": 1912, "大正": 1926, "昭和": 1989, "平成": 2019, "令和": 9999}
FIRST_DAY = [
    ("令和", dt.date(2019, 5, 1)),
    ("平成", dt.date(1989, 1, 8)),
    ("昭和", dt.date(1926, 12, 25)),
]
ERA = "(明治|大正|昭和|平成|令和)"


def year(era: str, number: str) -> int:
    """Gregorian year of an era year written '元' or in digits."""
    n = 1 if number == "元" else int(number)
    assert 1 <= n <= LAST[era] - GANNEN[era] + 1, f"{era}{number}年 does not exist"
    return GANNEN[era] + n - 1


def era_year(era: str, gregorian: int) -> int:
    assert GANNEN[era] <= gregorian <= LAST[era], f"{gregorian} is not in {era}"
    return gregorian - GANNEN[era] + 1


def day_of(era: str, number: str, month: str, day: str) -> dt.date:
    """A full era date; it must really lie in that era."""
    date = dt.date(year(era, number), int(month), int(day))
    assert next(name for name, first in FIRST_DAY if first <= date) == era, date
    return date


def shift(k: str | None, direction: str | None) -> int:
    return 0 if k is None else int(k) * (1 if direction == "後" else -1)


def solve(q: str) -> str:
    """The answer from the question alone."""
    off = r"(?:の(\d+)年(後|前))?"
    if m := re.fullmatch(rf"{ERA}(元|\d+)年{off}は西暦何年ですか？", q):
        return str(year(m[1], m[2]) + shift(m[3], m[4]))
    if m := re.fullmatch(rf"西暦(\d+)年{off}は{ERA}何年ですか？", q):
        return str(era_year(m[4], int(m[1]) + shift(m[2], m[3])))
    if m := re.fullmatch(rf"{ERA}(元|\d+)年{off}は{ERA}何年ですか？", q):
        return str(era_year(m[5], year(m[1], m[2]) + shift(m[3], m[4])))
    if m := re.fullmatch(
        rf"{ERA}(元|\d+)年に生まれた人は、{ERA}(元|\d+)年の誕生日に何歳になりますか？", q
    ):
        return str(year(m[3], m[4]) - year(m[1], m[2]))
    if m := re.fullmatch(r"西暦(\d+)年(\d+)月(\d+)日は、和暦では何という元号の何年ですか？.*", q):
        date = dt.date(int(m[1]), int(m[2]), int(m[3]))
        era = next(name for name, first in FIRST_DAY if first <= date)
        n = era_year(era, date.year)
        return f"{era}{'元' if n == 1 else n}年"
    date_re = rf"{ERA}(元|\d+)年(\d+)月(\d+)日"
    if m := re.fullmatch(rf"{date_re}の(\d+)日後は、西暦で何年何月何日ですか？.*", q):
        return (day_of(*m.groups()[:4]) + dt.timedelta(days=int(m[5]))).isoformat()
    m = re.fullmatch(rf"{date_re}は、{date_re}の何日後ですか？", q)
    assert m, f"unknown question {q!r}"
    return str((day_of(*m.groups()[:4]) - day_of(*m.groups()[4:])).days)


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert inst.answer == solve(inst.question), inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_an_independent_era_table(difficulty: Difficulty) -> None:
    for inst in batch("ja_era", difficulty):
        assert inst.answer == solve(inst.question), inst.question


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert inst.answer == solve(inst.question)


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(1927, 1, 1), "昭和2年1月1日"),
        (dt.date(2024, 2, 29), "令和6年2月29日"),
    ],
)
def test_boundary_dates_are_written_in_the_right_era(day: dt.date, text: str) -> None:
    assert date_text(day) == text and era_of(day).name == text[:2]


def test_hard_questions_often_sit_near_the_era_boundaries() -> None:
    near = 0
    for inst in batch("ja_era", "hard"):
        near += bool(
            re.search(
                r"(1988年12|1989年[12]月|2019年[3-6]月|昭和64年|平成31年|令和元年[5-7]月)",
                inst.question,
            )
        )
    assert near > 200


def _inst(answer: str, question: str = "西暦2019年は令和何年ですか？"):  # type: ignore[no-untyped-def]
    inst = TASK.instance(0, 0, "easy")
    return type(inst)(**{**inst.__dict__, "question": question, "answer": answer})


@pytest.mark.parametrize(
    ("answer", "question", "output", "correct"),
    [
        ("1", "西暦2019年は令和何年ですか？", "答え：令和元年", True),
        ("1", "西暦2019年は令和何年ですか？", "答え：元年", True),
        ("1", "西暦2019年は令和何年ですか？", "答え：1", True),
        ("1", "西暦2019年は令和何年ですか？", "答え：2019年は令和元年です。", True),
        ("1", "西暦2019年は令和何年ですか？", "答え：平成31年", False),
        ("31", "西暦2019年は平成何年ですか？", "答え：平成31年（2019年）", True),
        ("31", "西暦2019年は平成何年ですか？", "答え：三十一年", True),
        ("2003", "平成15年は西暦何年ですか？", "答え：平成15年は2003年です。", True),
        ("2003", "平成15年は西暦何年ですか？", "答え：西暦2003年", True),
        ("2003", "平成15年は西暦何年ですか？", "答え：二千三年", True),
        ("2003", "平成15年は西暦何年ですか？", "答え：2004年", False),
        ("48", "昭和50年に生まれた人は、令和5年の誕生日に何歳になりますか？", "答え：48歳", True),
        ("平成31年", "西暦2019年4月30日は、和暦では…", "答え：平成31年", True),
        ("平成31年", "西暦2019年4月30日は、和暦では…", "答え：平成三十一年です", True),
        ("平成31年", "西暦2019年4月30日は、和暦では…", "答え：令和元年", False),
        ("令和元年", "西暦2019年5月1日は、和暦では…", "答え：令和1年", True),
        ("令和元年", "西暦2019年5月1日は、和暦では…", "答え：平成31年", False),
        ("2020-06-18", "令和2年…の100日後は…", "答え：2020年6月18日", True),
        ("2020-06-18", "令和2年…の100日後は…", "答え：2020/6/18", True),
        ("2020-06-18", "令和2年…の100日後は…", "Answer: 2020-06-18", True),
        ("2020-06-18", "令和2年…の100日後は…", "答え：2020年6月19日", False),
        ("2020-06-18", "令和2年…の100日後は…", "答え：令和2年6月18日", False),
    ],
)
def test_scoring_formats(answer: str, question: str, output: str, correct: bool) -> None:
    assert TASK.score(_inst(answer, question), output).correct is correct
