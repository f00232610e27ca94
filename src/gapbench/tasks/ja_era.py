"""`ja_era`: Japanese era years (明治, 大正, 昭和, 平成, 令和) to and from the Gregorian calendar.

Year-level questions name the target era ("西暦2019年は平成何年？" = 31, "…令和何年？" = 1), so the
boundary years that belong to two eras are never ambiguous. Only the hard level gives full dates,
and there the exact first days decide: 昭和64年 ends on 1989-01-07, 平成 runs 1989-01-08 to
2019-04-30 (平成31年), and 令和 starts 2019-05-01. Hard dates stay after 1927, clear of the
day-long overlaps of 1912 and 1926.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass

from gapbench.scoring.score import Score
from gapbench.scoring.structured import (
    grade_japanese_number,
    read_answer,
    read_date,
    read_era_year,
    read_japanese_number,
)
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask


@dataclass(frozen=True)
class Era:
    """An era: its name, the Gregorian year of its 元年, and its first day."""

    name: str
    first_day: dt.date
    last_year: int
    """The last Gregorian year it covers (for 令和, the last year questions use)."""

    @property
    def first_year(self) -> int:
        """The Gregorian year of 元年."""
        return self.first_day.year

    def gregorian(self, era_year: int) -> int:
        """The Gregorian year of era year `era_year` (元年 = 1)."""
        return self.first_year + era_year - 1

    def era_year(self, year: int) -> int:
        """The era year of Gregorian `year`, which must lie in this era."""
        return year - self.first_year + 1

    def years(self) -> int:
        """How many era years questions may use (元年 through last_year)."""
        return self.last_year - self.first_year + 1


ERAS = (
    Era("明治", dt.date(1868, 10, 23), 1912),
    Era("大正", dt.date(1912, 7, 30), 1926),
    Era("昭和", dt.date(1926, 12, 25), 1989),
    Era("平成", dt.date(1989, 1, 8), 2019),
    Era("令和", dt.date(2019, 5, 1), 2035),
)
BOUNDARIES = (dt.date(1989, 1, 8), dt.date(2019, 5, 1))
DATE_RANGE = (dt.date(1927, 1, 1), dt.date(2035, 12, 31))
ANSWER_LINE = "答え："


def era_of(day: dt.date) -> Era:
    """The era a date belongs to (the latest whose first day is not after it)."""
    return [e for e in ERAS if e.first_day <= day][-1]


def year_text(era: Era, era_year: int) -> str:
    """'平成31年', '令和元年'."""
    return f"{era.name}{'元' if era_year == 1 else era_year}年"


def date_text(day: dt.date) -> str:
    """A date in its era: '平成31年4月30日'."""
    era = era_of(day)
    return f"{year_text(era, era.era_year(day.year))}{day.month}月{day.day}日"


def _eras_with(year: int) -> list[Era]:
    return [e for e in ERAS if e.first_year <= year <= e.last_year]


def _offset(rng: random.Random, lo: int, hi: int) -> int:
    """0 (no offset) 20% of the time, else a signed number of years."""
    return 0 if rng.random() < 0.2 else rng.choice((-1, 1)) * rng.randint(lo, hi)


def _offset_text(k: int) -> str:
    return "" if k == 0 else f"の{abs(k)}年{'後' if k > 0 else '前'}"


def _era_to_year(rng: random.Random) -> tuple[str, str, str]:
    era = rng.choice(ERAS)
    y = rng.randint(1, era.years())
    k = _offset(rng, 1, 50)
    g = era.gregorian(y)
    q = f"{year_text(era, y)}{_offset_text(k)}は西暦何年ですか？"
    work = f"{era.name}元年は{era.first_year}年なので、{year_text(era, y)}は{g}年。"
    return q, str(g + k), work + (f"{g} {'+' if k > 0 else '-'} {abs(k)} = {g + k}。" if k else "")


def _year_to_era(rng: random.Random) -> tuple[str, str, str]:
    era = rng.choice(ERAS)
    y = rng.randint(1, era.years())
    k = _offset(rng, 1, 50)
    base = era.gregorian(y) - k
    q = f"西暦{base}年{_offset_text(k)}は{era.name}何年ですか？"
    work = f"{era.name}元年は{era.first_year}年なので、{era.gregorian(y)}年は{year_text(era, y)}。"
    return q, str(y), work


def _age(rng: random.Random) -> tuple[str, str, str]:
    last = ERAS[-1].last_year
    born = rng.randint(ERAS[1].first_year, last - 1)
    later = born + rng.randint(1, min(99, last - born))
    born_era, target = rng.choice(_eras_with(born)), rng.choice(_eras_with(later))
    b_text = year_text(born_era, born_era.era_year(born))
    l_text = year_text(target, target.era_year(later))
    q = f"{b_text}に生まれた人は、{l_text}の誕生日に何歳になりますか？"
    work = f"{b_text}は{born}年、{l_text}は{later}年。{later} - {born} = {later - born}。"
    return q, str(later - born), work


def _years_later(rng: random.Random) -> tuple[str, str, str]:
    first, last = ERAS[0].first_year, ERAS[-1].last_year
    start = rng.randint(first + 1, last - 1)
    if rng.random() < 0.7:
        k = rng.randint(1, min(80, last - start))
    else:
        k = -rng.randint(1, min(40, start - first))
    start_era, target = rng.choice(_eras_with(start)), rng.choice(_eras_with(start + k))
    s_text = year_text(start_era, start_era.era_year(start))
    answer = target.era_year(start + k)
    q = f"{s_text}{_offset_text(k)}は{target.name}何年ですか？"
    sign = "+" if k > 0 else "-"
    result = year_text(target, answer)
    work = f"{s_text}は{start}年。{start} {sign} {abs(k)} = {start + k}年は{result}。"
    return q, str(answer), work


def _random_date(rng: random.Random) -> dt.date:
    """Half the time within two months of the 平成 or 令和 boundary, else anywhere in range."""
    if rng.random() < 0.5:
        return rng.choice(BOUNDARIES) + dt.timedelta(days=rng.randint(-60, 60))
    lo, hi = DATE_RANGE
    return lo + dt.timedelta(days=rng.randint(0, (hi - lo).days))


def _date_to_era(rng: random.Random) -> tuple[str, str, str]:
    day = _random_date(rng)
    era = era_of(day)
    answer = year_text(era, era.era_year(day.year))
    q = (f"西暦{day.year}年{day.month}月{day.day}日は、和暦では何という元号の何年ですか？"
         "「昭和50年」のように元号と年で答えてください。")  # fmt: skip
    first = era.first_day
    work = (
        f"{era.name}は{first.year}年{first.month}月{first.day}日に始まったので、この日は{answer}。"
    )
    return q, answer, work


def _days_later(rng: random.Random) -> tuple[str, str, str]:
    start = _random_date(rng)
    n = rng.randint(10, 1500)
    end = start + dt.timedelta(days=n)
    if end > DATE_RANGE[1]:
        start, end = start - dt.timedelta(days=n), start
    q = (f"{date_text(start)}の{n}日後は、西暦で何年何月何日ですか？"
         "「2020年6月18日」のように答えてください。")  # fmt: skip
    work = (
        f"{date_text(start)}は{start.isoformat()}。{n}日後は{end.year}年{end.month}月{end.day}日。"
    )
    return q, end.isoformat(), work


def _days_between(rng: random.Random) -> tuple[str, str, str]:
    first = _random_date(rng)
    second = first + dt.timedelta(days=rng.randint(1, 1500))
    if second > DATE_RANGE[1]:
        first, second = first - (second - first), first
    n = (second - first).days
    q = f"{date_text(second)}は、{date_text(first)}の何日後ですか？"
    work = f"{first.isoformat()}から{second.isoformat()}までは{n}日。"
    return q, str(n), work


KINDS = {
    "easy": (_era_to_year, _year_to_era),
    "medium": (_age, _years_later),
    "hard": (_date_to_era, _days_later, _days_between),
}
_ASKS_ERA_YEAR = re.compile(r"(明治|大正|昭和|平成|令和)何年")
_ASKS_GREGORIAN = re.compile(r"西暦何年")
_ERA_YEAR_MENTION = re.compile(r"(明治|大正|昭和|平成|令和)\s*(元|\d+)\s*年")


class JaEraTask(GeneratedTask):
    """Era years: one conversion (easy), ages and spans across eras (medium), full dates (hard)."""

    name = "ja_era"
    # 2: the base-model few-shot prompt is labelled in Japanese (問題：/解答：), not English.
    version = "2"
    area = "cjk"
    language = "ja"
    description = (
        "Japanese era dates (昭和, 平成, 令和, ...) to and from Gregorian, with arithmetic."
    )
    instruction = "考え方を書いてから、最後に「答え：<答え>」という形の行で答えてください。"

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """One question of a kind drawn for the level."""
        question, answer, work = rng.choice(KINDS[difficulty])(rng)
        return Built(question, answer, f"{work}{ANSWER_LINE}{answer}")

    def score(self, instance: Instance, output: str) -> Score:
        """Dates compare as dates, era answers as (era, year), numbers as numbers (元年 = 1)."""
        ref = instance.answer
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", ref):
            day, method = read_answer(output, read_date)
            got = None if day is None else day.isoformat()
            return Score(got == ref, got, got is not None, method)
        expected = read_era_year(ref)
        if expected is not None:
            pair, method = read_answer(output, read_era_year)
            got = None if pair is None else year_text(_era_named(pair[0]), pair[1])
            return Score(pair == expected, got, pair is not None, method)
        if _ASKS_ERA_YEAR.search(instance.question):
            era = _ASKS_ERA_YEAR.search(instance.question)
            asked = era.group(1) if era else ""
            value, method = read_answer(output, lambda seg: _asked_era_year(seg, asked))
            got = None if value is None else str(value)
            return Score(got == ref, got, got is not None, method)
        if _ASKS_GREGORIAN.search(instance.question):
            value, method = read_answer(
                output, lambda seg: read_japanese_number(_ERA_YEAR_MENTION.sub(" ", seg))
            )
            got = None if value is None else str(value)
            return Score(got == ref, got, got is not None, method)
        return grade_japanese_number(ref, output)


def _era_named(name: str) -> Era:
    return next(e for e in ERAS if e.name == name)


def _asked_era_year(segment: str, era: str) -> int | None:
    """The year given with the asked era ('令和元年' -> 1), else the first number in the line."""
    pair = read_era_year(segment)
    if pair is not None and pair[0] == era:
        return pair[1]
    return read_japanese_number(segment)
