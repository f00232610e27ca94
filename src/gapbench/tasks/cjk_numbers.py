"""`zh_numbers` and `ja_numbers`: numbers written in 汉字/漢字 with 万 and 亿/億, both ways.

Half the questions give a numeral in characters and ask for Arabic digits; half give digits and
ask for characters. Numbers are drawn digit by digit with many zeros (三亿零五万,
三億五万), since skipped places are where the two writing systems differ and where
readers slip.

Scoring insists on the asked-for script: digits for a characters-to-digits question, characters
with place units (not a positional 一〇〇五) for the other. Any correct spelling of the
value counts: 一千 or 千 in Japanese, 两 or 二 in Chinese.
"""

from __future__ import annotations

import random
import re

from gapbench.scoring.numbers import CJK_NUMERAL_CHARS, to_chinese_numeral, to_japanese_numeral
from gapbench.scoring.score import Score
from gapbench.scoring.structured import arabic_value, kanji_value, read_answer, read_numeral_token
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

DIGITS: dict[Difficulty, tuple[int, int]] = {"easy": (3, 5), "medium": (6, 8), "hard": (9, 12)}
ZERO_RATE: dict[Difficulty, float] = {"easy": 0.25, "medium": 0.35, "hard": 0.45}


def draw_number(rng: random.Random, difficulty: Difficulty) -> int:
    """A number with a level's count of digits; inner digits are zero at the level's rate."""
    digits = [rng.randint(1, 9)]
    for _ in range(rng.randint(*DIGITS[difficulty]) - 1):
        digits.append(0 if rng.random() < ZERO_RATE[difficulty] else rng.randint(1, 9))
    return int("".join(map(str, digits)))


# Digits fused with numeral characters ('1,111万') are one number, in neither script: reading
# its '万' alone would report an answer the model never wrote.
_KANJI_OR_MIXED_RE = re.compile(rf"(?:\d[\d,]*+)?[{CJK_NUMERAL_CHARS}]++")


def _first_in_script(segment: str, want_kanji: bool) -> str | None:
    """The first numeral token in the asked-for script, else the first token of any script."""
    if want_kanji:
        chars = _KANJI_OR_MIXED_RE.search(segment)
        if chars:
            return chars.group()
    else:
        arabic = read_numeral_token("".join(ch if ch.isascii() else " " for ch in segment))
        if arabic is not None:
            return arabic
    return read_numeral_token(segment)


class _NumbersTask(GeneratedTask):
    """Shared generation and scoring; subclasses give the language's words and numeral writer."""

    colloquial: bool
    to_digits_questions: tuple[str, ...]
    to_chars_questions: tuple[str, ...]
    answer_line: str

    def numeral(self, n: int) -> str:
        """n written in the language's characters."""
        raise NotImplementedError

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A conversion in a random direction."""
        n = draw_number(rng, difficulty)
        chars = self.numeral(n)
        if rng.random() < 0.5:
            question = rng.choice(self.to_digits_questions).format(chars=chars)
            answer = str(n)
        else:
            digits = f"{n:,}" if rng.random() < 0.5 else str(n)
            question = rng.choice(self.to_chars_questions).format(digits=digits)
            answer = chars
        return Built(question, answer, f"{chars} = {n:,}。{self.answer_line}{answer}")

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the answer is written in the asked-for script and has the right value."""
        want_kanji = not instance.answer.isdigit()
        target = (
            kanji_value(instance.answer, colloquial=self.colloquial)
            if want_kanji
            else int(instance.answer)
        )
        token, method = read_answer(output, lambda seg: _first_in_script(seg, want_kanji))
        if token is None:
            return Score(False, None, False, method)
        value = (
            kanji_value(token, colloquial=self.colloquial) if want_kanji else arabic_value(token)
        )
        return Score(value is not None and value == target, token, True, method)


class ZhNumbersTask(_NumbersTask):
    """Chinese numerals with 万 and 亿 to and from Arabic digits."""

    name = "zh_numbers"
    version = "1"
    area = "cjk"
    language = "zh"
    description = "Chinese numerals (万, 亿, 零) to Arabic digits and back."
    instruction = "请写出转换过程，最后单独写一行：答案：<结果>"
    colloquial = True
    to_digits_questions = (
        "把下面的数写成阿拉伯数字：{chars}",
        "“{chars}”用阿拉伯数字怎么写？",
    )
    to_chars_questions = (
        "把{digits}写成汉字数字（使用万、亿等单位）。",
        "用汉字写出数字{digits}（使用万、亿等单位）。",
    )
    answer_line = "答案："

    def numeral(self, n: int) -> str:
        """Standard Chinese numerals: 三亿零五万, 一千零五."""
        return to_chinese_numeral(n)


class JaNumbersTask(_NumbersTask):
    """Japanese kanji numerals with 万 and 億 to and from Arabic digits."""

    name = "ja_numbers"
    # 2: the base-model few-shot prompt is labelled in Japanese (問題：/解答：), not English.
    version = "2"
    area = "cjk"
    language = "ja"
    description = "Japanese kanji numerals (万, 億; no 零) to Arabic digits and back."
    instruction = "考え方を書いてから、最後に「答え：<結果>」という形の行で答えてください。"
    colloquial = False
    to_digits_questions = (
        "次の漢数字を算用数字で書いてください：{chars}",
        "「{chars}」を算用数字で表すといくつですか？",
    )
    to_chars_questions = (
        "{digits}を漢数字で書いてください（万・億を使ってください）。",
        "算用数字の{digits}を、万や億を使った漢数字で表してください。",
    )
    answer_line = "答え："

    def numeral(self, n: int) -> str:
        """Japanese kanji numerals: 三億五万, 千五."""
        return to_japanese_numeral(n)
