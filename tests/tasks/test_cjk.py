"""`zh_arith`: answers recomputed from the Chinese text; Chinese-numeral answers accepted."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gapbench.scoring.numbers import CJK_NUMERAL_CHARS, parse_number, to_chinese_numeral
from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.cjk import ZhArithTask

TASK = ZhArithTask()
STEPS = {"easy": (2, 2), "medium": (3, 4), "hard": (5, 6)}
NUMBER = re.compile(rf"[0-9]+|[{CJK_NUMERAL_CHARS}]+")

# Meaning of each sentence, from its words; exactly one rule must match.
RULES: dict[str, list[str]] = {
    "mul": [r"倍"],
    "div": [r"平均分"],
    "group_gain": [r"干活", r"盘饼干，每盘", r"箱书，每箱", r"倒进.*每桶", r"旅游团", r"通过了"],
    "group_loss": [r"笔记本，每本", r"位顾客，每位", r"个班级", r"每人取走", r"个家庭", r"道具"],
    "gain": [
        r"给了",
        r"旧报纸得到",
        r"又烤了[^，盘]+块",
        r"送来",
        r"收到",
        r"流进",
        r"上来[^，]+名",
        r"赢得",
    ],
    "loss": [r"花了", r"买走了", r"淘汰", r"用掉", r"下去[^，]+名", r"输掉"],
}


def solve(question: str) -> tuple[int, int, int]:
    """(answer, steps, how many numbers were written in Chinese numerals), from the text alone."""
    first, *steps, ask = [s for s in re.split(r"(?<=[。？])", question) if s]
    assert "多少" in ask and ask.endswith("？")
    chinese = 0

    def numbers(sentence: str) -> list[int]:
        nonlocal chinese
        found = NUMBER.findall(sentence)
        chinese += sum(1 for n in found if not n.isdigit())
        values = [parse_number(n) for n in found]
        assert all(v is not None and v.denominator == 1 for v in values), sentence
        return [int(v) for v in values if v is not None]

    (x,) = numbers(first)
    for sentence in steps:
        hit = [kind for kind, pats in RULES.items() if any(re.search(p, sentence) for p in pats)]
        assert len(hit) == 1, f"{sentence!r} matches {hit}"
        nums = numbers(sentence)
        kind = hit[0]
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
    return x, len(steps), chinese


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert inst.answer == str(solve(inst.question)[0]), inst.question


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_the_text(difficulty: Difficulty) -> None:
    lo, hi = STEPS[difficulty]
    for index in range(300):
        inst = TASK.instance(5, index, difficulty)
        answer, steps, _ = solve(inst.question)
        assert inst.answer == str(answer), inst.question
        assert lo <= steps <= hi


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_the_text_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert inst.answer == str(solve(inst.question)[0])


def test_some_numbers_are_written_in_chinese_numerals() -> None:
    written = [solve(TASK.instance(0, i, "medium").question)[2] for i in range(300)]
    with_chinese = sum(1 for count in written if count)
    assert 0.3 * 300 < with_chinese < 0.95 * 300


def test_instances_are_deterministic() -> None:
    assert TASK.instance(3, 14, "easy") == TASK.instance(3, 14, "easy")
    assert TASK.instance(3, 14, "easy") != TASK.instance(3, 15, "easy")


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_instances_are_varied(difficulty: Difficulty) -> None:
    questions = {TASK.instance(0, i, difficulty).question for i in range(1200)}
    assert len(questions) >= 1000


def test_fewshot_examples_are_worked_and_correct() -> None:
    for ex in TASK.fewshot(2, "hard", 4):
        assert ex.solution.endswith(f"答案：{solve(ex.question)[0]}")


def test_chat_prompt_is_chinese_and_asks_for_the_answer_line() -> None:
    inst = TASK.instance(0, 0, "easy")
    assert "答案：<数字>" in TASK.chat_prompt(inst)
    assert TASK.language == "zh" and TASK.area == "cjk"


@pytest.mark.parametrize(
    "template",
    [
        "答案：{n}",
        "答案：{zh}",
        "所以答案是{zh}。",
        "计算得{n}元。",
        "答案：{zh_liang}",
        "Answer: {n}",
    ],
)
def test_score_accepts_arabic_and_chinese_numerals(template: str) -> None:
    for i in range(30):
        inst = TASK.instance(1, i, "hard")
        n = int(inst.answer)
        output = template.format(
            n=n, zh=to_chinese_numeral(n), zh_liang=to_chinese_numeral(n, liang=True)
        )
        assert TASK.score(inst, output).correct, output


def test_score_rejects_wrong_and_missing_answers() -> None:
    inst = TASK.instance(1, 0, "medium")
    wrong = TASK.score(inst, f"答案：{to_chinese_numeral(int(inst.answer) + 1)}")
    assert not wrong.correct and wrong.extraction_ok
    missing = TASK.score(inst, "我不知道。")
    assert not missing.correct and not missing.extraction_ok
