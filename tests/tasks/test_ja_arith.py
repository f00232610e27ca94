"""`ja_arith`: answers recomputed from the Japanese text, reading kanji numbers with a parser
written here (Japanese style: 千五 = 1005)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.ja_arith import JaArithTask

TASK = JaArithTask()
STEPS = {"easy": (2, 2), "medium": (3, 4), "hard": (5, 6)}
KANJI_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")}
SMALL = {"十": 10, "百": 100, "千": 1000}
BIG = {"万": 10**4, "億": 10**8}
NUMBER = re.compile(r"[0-9]+|[〇一二三四五六七八九十百千万億]+")


def kanji_to_int(text: str) -> int:
    """Japanese kanji numerals: digits multiply the unit after them; a unit alone means one."""
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in KANJI_DIGITS:
            assert digit is None, text
            digit = KANJI_DIGITS[ch]
        elif ch in SMALL:
            section += (1 if digit is None else digit) * SMALL[ch]
            digit = None
        else:
            total += (section + (digit or 0)) * BIG[ch]
            section, digit = 0, None
    return total + section + (digit or 0)


RULES: dict[str, list[str]] = {
    "mul": ["倍"],
    "div": ["等しく分け", "で割られ"],
    "group_gain": ["時給", "枚ずつのせた天板", "冊入りの箱", "バケツで", "団体", "コインを"],
    "group_loss": [
        "ノートを", "人のお客さんがそれぞれ", "クラスがそれぞれ", "ずつくみ出し", "人家族",
        "アイテムを",
    ],
    "gain": [
        "もらいました", "さらに", "持ってきました", "寄付されました", "返しました", "流れ込み",
        "乗ってきました", "獲得",
    ],
    "loss": [
        "使いました", "払いました", "買いました", "処分", "借りていきました", "漏れ出し",
        "降りました", "失いました",
    ],
}  # fmt: skip


def solve(question: str) -> tuple[int, int, int]:
    """(answer, steps, numbers written in kanji), from the text alone."""
    first, *steps, ask = [s for s in re.split(r"(?<=[。？])", question) if s]
    assert ask.startswith(("パン屋", "図書館", "タンク", "電車")) or "さんは今" in ask
    assert ask.endswith("か？") and "何" in ask
    kanji = 0

    def numbers(sentence: str) -> list[int]:
        nonlocal kanji
        found = NUMBER.findall(sentence)
        kanji += sum(1 for n in found if not n.isdigit())
        return [int(n) if n.isdigit() else kanji_to_int(n) for n in found]

    (x,) = numbers(first)
    for sentence in steps:
        hit = [k for k, pats in RULES.items() if any(re.search(p, sentence) for p in pats)]
        # 'group' rules are more specific than the plain gain/loss words they contain.
        hit = [k for k in hit if k.startswith("group")] or hit
        assert len(hit) == 1, f"{sentence!r} matches {hit}"
        nums, kind = numbers(sentence), hit[0]
        if kind == "mul":
            x *= nums[0]
        elif kind == "div":
            assert x % nums[0] == 0
            x //= nums[0]
        elif kind.startswith("group"):
            a, b = nums
            x += a * b if kind == "group_gain" else -a * b
        else:
            (a,) = nums
            x += a if kind == "gain" else -a
        assert x > 0
    return x, len(steps), kanji


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert inst.answer == str(solve(inst.question)[0]), inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_the_text(difficulty: Difficulty) -> None:
    kanji = 0
    for inst in batch("ja_arith", difficulty):
        answer, steps, written = solve(inst.question)
        assert inst.answer == str(answer), inst.question
        assert STEPS[difficulty][0] <= steps <= STEPS[difficulty][1]
        kanji += written
    assert kanji > 100  # numbers in kanji are really used


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert inst.answer == str(solve(inst.question)[0])


@pytest.mark.parametrize(
    ("output", "correct"),
    [
        ("答え：1005", True),
        ("答え：1,005円", True),
        ("答え：千五", True),  # Japanese reading: no 零, so 千五 is 1005 (in Chinese it is 1500)
        ("答え：千五円です。", True),
        ("答え：一〇〇五", True),
        ("計算すると 500 + 505 = 1005 です。\n答え：500 + 505 = 1005", True),
        ("全部で1005円になります。", True),  # no answer line: the last number
        ("Answer: 1005", True),
        ("答え：千五百", False),
        ("答え：1500", False),
    ],
)
def test_scoring_formats(output: str, correct: bool) -> None:
    inst = TASK.instance(0, 0, "easy")
    inst = type(inst)(**{**inst.__dict__, "answer": "1005"})
    assert TASK.score(inst, output).correct is correct
