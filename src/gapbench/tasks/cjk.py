"""`zh_arith`: the arithmetic word problems of `arith`, written in Chinese.

Numbers in the question are sometimes written in Chinese numerals (三百二十五, 两千零五) to test
reading them; answers are accepted in Arabic or Chinese numerals. Templates avoid every numeral
character outside the numbers themselves (no 一共, 下一站, 一半), so that a reader of the text can
find exactly the numbers of the problem.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from gapbench.scoring.extract import grade_number
from gapbench.scoring.numbers import to_chinese_numeral
from gapbench.scoring.score import Score
from gapbench.tasks.arith import Theme, compose
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

CHINESE_NUMERAL_SHARE = 0.3
"""Probability that a number in a question is written in Chinese numerals instead of digits."""

NAMES = (
    "小明",
    "小红",
    "小刚",
    "小丽",
    "李华",
    "王芳",
    "张伟",
    "刘洋",
    "陈静",
    "赵磊",
    "周婷",
    "吴昊",
)

ZH_THEMES: tuple[Theme, ...] = (
    Theme("{name}有{n}元钱。", "{name}现在有多少元钱？", {
        "add": ("妈妈给了{name}{a}元。", "{name}卖旧报纸得到{a}元。"),
        "sub": ("{name}买午饭花了{a}元。", "{name}买电影票花了{a}元。"),
        "groups_add": ("{name}帮邻居干活{a}小时，每小时得到{b}元。",),
        "groups_sub": ("{name}买了{a}本笔记本，每本{b}元。",),
        "div": ("{name}把所有的钱平均分给包括自己在内的{a}个人，自己留下应得的那份。",),
    }),
    Theme("面包店早上有{n}块饼干。", "面包店现在有多少块饼干？", {
        "add": ("面包师又烤了{a}块饼干。", "邻居送来{a}块饼干。"),
        "sub": ("顾客买走了{a}块饼干。",),
        "groups_add": ("面包师又烤了{a}盘饼干，每盘{b}块。",),
        "groups_sub": ("有{a}位顾客，每位买走{b}块饼干。",),
        "mul": ("送货之后，饼干的数量变成了原来的{a}倍。",),
        "div": ("饼干被平均分给{a}家分店，本店留下应得的那份。",),
    }),
    Theme("学校图书馆有{n}本书。", "图书馆现在有多少本书？", {
        "add": ("图书馆收到捐赠的书{a}本。",),
        "sub": ("有{a}本旧书被淘汰了。",),
        "groups_add": ("图书馆买来{a}箱书，每箱{b}本。",),
        "groups_sub": ("有{a}个班级，每个班借走{b}本书。",),
        "mul": ("经过大量捐赠，图书馆的书变成了原来的{a}倍。",),
        "div": ("这些书被平均分给{a}个分馆，本馆留下应得的那份。",),
    }),
    Theme("水箱里有{n}升水。", "水箱里现在有多少升水？", {
        "add": ("又流进了{a}升雨水。",),
        "sub": ("浇花用掉了{a}升水。",),
        "groups_add": ("又倒进了{a}桶水，每桶{b}升。",),
        "groups_sub": ("有{a}个人，每人取走{b}升水。",),
        "mul": ("暴雨过后，水箱里的水变成了原来的{a}倍。",),
        "div": ("水被平均分到{a}个水箱里，这个水箱留下应得的那份。",),
    }),
    Theme("火车从车站出发时有{n}名乘客。", "火车上现在有多少名乘客？", {
        "add": ("到站后，上来{a}名乘客。",),
        "sub": ("到站后，下去{a}名乘客。",),
        "groups_add": ("上来{a}个旅游团，每团{b}人。",),
        "groups_sub": ("下去{a}个家庭，每个家庭{b}人。",),
    }),
    Theme("{name}在游戏里有{n}分。", "{name}现在有多少分？", {
        "add": ("{name}赢得了{a}分。",),
        "sub": ("{name}输掉了{a}分。",),
        "groups_add": ("{name}通过了{a}关，每关得{b}分。",),
        "groups_sub": ("{name}买了{a}个道具，每个花费{b}分。",),
        "mul": ("奖励回合让{name}的积分变成原来的{a}倍。",),
        "div": ("{name}把积分平均分给包括自己在内的{a}个队员，自己留下应得的那份。",),
    }),
)  # fmt: skip


def _number_writer(rng: random.Random) -> Callable[[int], str]:
    """Writes each number in digits or, sometimes, in Chinese numerals (with 两 half the time)."""

    def write(n: int) -> str:
        if rng.random() < CHINESE_NUMERAL_SHARE:
            return to_chinese_numeral(n, liang=rng.random() < 0.5)
        return str(n)

    return write


def _cast(rng: random.Random) -> tuple[dict[str, str], Callable[[int], str]]:
    name = {"name": rng.choice(NAMES)}
    return name, _number_writer(rng)


class ZhArithTask(GeneratedTask):
    """Chinese arithmetic word problems; the same step engine and levels as `arith`."""

    name = "zh_arith"
    version = "1"
    area = "cjk"
    language = "zh"
    description = "Chinese arithmetic word problems, some numbers written in Chinese numerals."
    instruction = "请逐步解答，最后单独写一行：答案：<数字>"

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A word problem drawn with `rng`; the worked solution ends in '答案：N'."""
        problem = compose(rng, ZH_THEMES, difficulty, _cast)
        solution = problem.worked(f"开始有{problem.start}。", "答案：")
        return Built("".join(problem.sentences), problem.answer, " ".join(solution))

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the extracted number (Arabic or Chinese numerals) equals the reference."""
        return grade_number(instance.answer, output)
