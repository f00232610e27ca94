"""`reverse_words`: say a list of words back in reverse order.

A fresh family: GeneratedTask turns `build` (one random problem) into deterministic instances and
few-shot examples; `score` reads the model's answer line. Every random choice comes from `rng`,
so (seed, index, difficulty) always gives the same instance.
"""

from __future__ import annotations

import random

from gapbench.scoring.score import Score
from gapbench.scoring.structured import read_answer
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

WORDS = ("apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "candle", "forest",
         "rocket", "mirror", "garden", "silver", "anchor", "violet", "harbor")  # fmt: skip
LENGTHS = {"easy": (3, 4), "medium": (5, 7), "hard": (8, 10)}


def _words(text: str) -> str | None:
    """The words of an answer, lower-cased and single-spaced; None when there are none."""
    words = [w.strip(".,;:'\"") for w in text.lower().split()]
    kept = [w for w in words if w]
    return " ".join(kept) if kept else None


class ReverseWordsTask(GeneratedTask):
    name = "reverse_words"
    version = "1"
    area = "lists"
    language = "en"
    description = "Say a list of words back in reverse order"
    instruction = "End with a line 'Answer: <the words in reverse order>'."
    answer_format = "the words in reverse order, separated by spaces"

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        low, high = LENGTHS[difficulty]
        words = rng.sample(WORDS, rng.randint(low, high))
        answer = " ".join(reversed(words))
        question = f"Write these words in reverse order: {' '.join(words)}"
        return Built(question, answer, f"Reading from the end: {answer}.\nAnswer: {answer}")

    def score(self, instance: Instance, output: str) -> Score:
        got, method = read_answer(output, _words)
        return Score(got == instance.answer, got, got is not None, method)
