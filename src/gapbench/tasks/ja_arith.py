"""`ja_arith`: the arithmetic word problems of `arith`, written in Japanese.

Some numbers are written in kanji the Japanese way (千五 = 1005: no 零, no 一 before 十/百/千).
Templates avoid every numeral character outside the numbers themselves (no 一緒 or
一人), so a reader of the text finds exactly the numbers of the problem.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from gapbench.scoring.numbers import to_japanese_numeral
from gapbench.scoring.score import Score
from gapbench.scoring.structured import grade_japanese_number
from gapbench.tasks.arith import Theme, compose
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

KANJI_SHARE = 0.3
"""Probability that a number in a question is written in kanji instead of digits."""

NAMES = ("さくら", "はると", "ゆい", "そうた", "あおい", "れん", "田中", "佐藤", "鈴木", "高橋",
         "山本", "中村")  # fmt: skip

JA_THEMES: tuple[Theme, ...] = (
    Theme("{name}さんは{n}円持っています。", "{name}さんは今何円持っていますか？", {
        "add": ("お手伝いをして{a}円もらいました。", "おばあさんから{a}円もらいました。"),
        "sub": ("昼ご飯に{a}円使いました。", "本を買うのに{a}円払いました。"),
        "groups_add": ("時給{b}円のアルバイトを{a}時間しました。",),
        "groups_sub": ("{b}円のノートを{a}冊買いました。",),
        "div": ("持っているお金を自分も含めた{a}人で等しく分け、自分の分だけを残しました。",),
    }),
    Theme("パン屋には朝、クッキーが{n}枚あります。", "パン屋には今クッキーが何枚ありますか？", {
        "add": ("パン職人がクッキーをさらに{a}枚焼きました。",
                "近所の人がクッキーを{a}枚持ってきました。"),
        "sub": ("お客さんがクッキーを{a}枚買いました。",),
        "groups_add": ("クッキーを{b}枚ずつのせた天板を{a}枚焼きました。",),
        "groups_sub": ("{a}人のお客さんがそれぞれ{b}枚ずつ買いました。",),
        "mul": ("配達があり、クッキーの数が{a}倍になりました。",),
        "div": ("クッキーを支店も含めた{a}店で等しく分け、この店の分だけが残りました。",),
    }),
    Theme("学校の図書館には本が{n}冊あります。", "図書館には今本が何冊ありますか？", {
        "add": ("本が{a}冊寄付されました。", "生徒が本を{a}冊返しました。"),
        "sub": ("古くなった本を{a}冊処分しました。", "生徒が本を{a}冊借りていきました。"),
        "groups_add": ("{b}冊入りの箱を{a}箱買いました。",),
        "groups_sub": ("{a}クラスがそれぞれ{b}冊ずつ借りていきました。",),
        "mul": ("大きな寄付があり、本の数が{a}倍になりました。",),
        "div": ("本を分館も含めた{a}館で等しく分け、この図書館は自分の分だけを残しました。",),
    }),
    Theme("タンクに水が{n}リットル入っています。", "タンクには今水が何リットル入っていますか？", {
        "add": ("雨水が{a}リットル流れ込みました。",),
        "sub": ("庭の水やりに{a}リットル使いました。", "{a}リットルが漏れ出しました。"),
        "groups_add": ("{b}リットル入りのバケツで{a}杯分注ぎました。",),
        "groups_sub": ("{a}人がそれぞれ{b}リットルずつくみ出しました。",),
        "mul": ("大雨のあと、水の量が{a}倍になりました。",),
        "div": ("水を{a}個のタンクに等しく分け、このタンクにはその分だけが残りました。",),
    }),
    Theme("電車が駅を出たとき、乗客は{n}人でした。", "電車には今何人の乗客が乗っていますか？", {
        "add": ("次の駅で{a}人が乗ってきました。",),
        "sub": ("次の駅で{a}人が降りました。",),
        "groups_add": ("{b}人の団体が{a}組乗ってきました。",),
        "groups_sub": ("{b}人家族が{a}組降りました。",),
    }),
    Theme("{name}さんはゲームで{n}ポイント持っています。",
          "{name}さんは今何ポイント持っていますか？", {
        "add": ("ステージをクリアして{a}ポイント獲得しました。",
                "ボーナスで{a}ポイントもらいました。"),
        "sub": ("罠にかかって{a}ポイント失いました。",
                "新しい服に{a}ポイント使いました。"),
        "groups_add": ("{b}ポイントのコインを{a}個拾いました。",),
        "groups_sub": ("{b}ポイントのアイテムを{a}個買いました。",),
        "mul": ("ボーナスラウンドでポイントが{a}倍になりました。",),
        "div": ("ペナルティでポイントが{a}で割られました。",),
    }),
)  # fmt: skip


def _number_writer(rng: random.Random) -> Callable[[int], str]:
    """Writes each number in digits or, sometimes, in Japanese kanji numerals."""

    def write(n: int) -> str:
        return to_japanese_numeral(n) if rng.random() < KANJI_SHARE else str(n)

    return write


def _cast(rng: random.Random) -> tuple[dict[str, str], Callable[[int], str]]:
    name = {"name": rng.choice(NAMES)}
    return name, _number_writer(rng)


class JaArithTask(GeneratedTask):
    """Japanese arithmetic word problems; the same step engine and levels as `arith`."""

    name = "ja_arith"
    # 2: the base-model few-shot prompt is labelled in Japanese (問題：/解答：), not English.
    version = "2"
    area = "cjk"
    language = "ja"
    description = "Japanese arithmetic word problems, some numbers written in kanji numerals."
    instruction = "順を追って解き、最後に「答え：<数>」という形の行で答えてください。"

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A word problem in Japanese and its integer answer."""
        problem = compose(rng, JA_THEMES, difficulty, _cast)
        solution = problem.worked(f"はじめは{problem.start}。", "答え：")
        return Built("".join(problem.sentences), problem.answer, " ".join(solution))

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the number read (digits or kanji, 千五 = 1005) equals the reference."""
        return grade_japanese_number(instance.answer, output)
