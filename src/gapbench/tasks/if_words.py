"""`if_words`: instruction following with checkable rules: an exact word count, words that must
appear, words that must not, and (hard) the word to end with.

The rules are written into the question as fixed sentences and `score` reads them back from the
question, so what the model was told is exactly what is checked. The reference answer is one
response that satisfies every rule, proof that the instance can be satisfied.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gapbench.scoring.extract import ANSWER_LINE, NONE
from gapbench.scoring.score import Score
from gapbench.scoring.structured import response_text, words_of
from gapbench.tasks.base import Difficulty, Instance
from gapbench.tasks.generated import Built, GeneratedTask

TOPICS: dict[str, str] = {
    # topic: nouns a response about it would naturally use (rules draw from these)
    "a lighthouse on a stormy night": (
        "lighthouse storm waves keeper lamp rocks ships wind beam coast rain foam"
    ),
    "a morning market": (
        "market fruit vendors baskets bread coins crowd stalls honey cheese flowers awnings"
    ),
    "learning to ride a bicycle": (
        "bicycle pedals balance helmet wheels path knees bell brakes courage park chain"
    ),
    "a winter forest": "snow pines tracks frost owl branches silence fox ice moss cabin smoke",
    "a busy train station": (
        "platform trains tickets clock luggage crowds whistle benches doors rails coffee signs"
    ),
    "cooking soup": "soup pot onions carrots broth spoon steam salt pepper garlic bowl stove",
    "a library at closing time": (
        "library shelves books lamps librarian pages dust desks silence windows keys atlas"
    ),
    "a mountain hike": (
        "mountain trail boots summit clouds rocks water map eagle ridge valley breath"
    ),
    "a city garden": (
        "garden tomatoes bees soil fence roses hose neighbors seeds sunlight worms benches"
    ),
    "a summer thunderstorm": (
        "thunder lightning clouds rain puddles umbrella roof gutters heat wind porch sky"
    ),
    "an old clock shop": (
        "clocks gears springs pendulum shop owner ticking brass dust hands chimes window"
    ),
    "a desert caravan": (
        "camels dunes sand water tents stars merchants silk oasis heat wind lanterns"
    ),
    "a school science fair": (
        "posters volcano judges magnets robots students "
        "ribbons tables plants batteries questions crystals"
    ),
    "a fishing village": "boats nets harbor gulls fish ropes tide docks salt fishermen pier dawn",
    "a night sky full of stars": (
        "stars moon planets comet telescope darkness "
        "meteors galaxy constellations horizon owls blanket"
    ),
    "a bakery before dawn": (
        "bakery dough ovens flour baker loaves butter sugar croissants trays warmth yeast"
    ),
}
ADJECTIVES = (
    "old",
    "quiet",
    "bright",
    "small",
    "warm",
    "gentle",
    "distant",
    "golden",
    "tired",
    "busy",
)


@dataclass(frozen=True)
class Level:
    """Word-count range and how many required and forbidden words; `end_word` adds the rule
    that the response ends with one of the required words."""

    words: tuple[int, int]
    required: int
    forbidden: int
    end_word: bool


LEVELS: dict[Difficulty, Level] = {
    "easy": Level((5, 15), 1, 1, False),
    "medium": Level((10, 25), 2, 2, False),
    "hard": Level((20, 40), 3, 3, True),
}


@dataclass(frozen=True)
class Rules:
    """What a response must satisfy."""

    count: int
    required: tuple[str, ...]
    forbidden: tuple[str, ...]
    end_word: str | None


def _quoted(words: Sequence[str], joiner: str) -> str:
    items = [f'"{w}"' for w in words]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {joiner} {items[-1]}"


def rules_text(rules: Rules) -> list[str]:
    """The rule sentences exactly as the question states them (and `parse_rules` reads them)."""
    noun = "word" if len(rules.required) == 1 else "words"
    lines = [
        f"- Use exactly {rules.count} words.",
        f"- Include the {noun} {_quoted(rules.required, 'and')}.",
        f"- Do not use the {'word' if len(rules.forbidden) == 1 else 'words'} "
        f"{_quoted(rules.forbidden, 'or')}.",
    ]
    if rules.end_word is not None:
        lines.append(f'- End with the word "{rules.end_word}".')
    return lines


_COUNT_RE = re.compile(r"^- Use exactly (\d+) words\.$", re.MULTILINE)
_REQUIRED_RE = re.compile(r"^- Include the words? (.+)\.$", re.MULTILINE)
_FORBIDDEN_RE = re.compile(r"^- Do not use the words? (.+)\.$", re.MULTILINE)
_END_RE = re.compile(r'^- End with the word "([^"]+)"\.$', re.MULTILINE)


def parse_rules(question: str) -> Rules:
    """The rules stated in a question made by this family (ValueError for any other text)."""
    count, required, forbidden = (
        _COUNT_RE.search(question),
        _REQUIRED_RE.search(question),
        _FORBIDDEN_RE.search(question),
    )
    if count is None or required is None or forbidden is None:
        raise ValueError("not an if_words question: its rule lines are missing")
    end = _END_RE.search(question)
    return Rules(
        int(count.group(1)),
        tuple(re.findall(r'"([^"]+)"', required.group(1))),
        tuple(re.findall(r'"([^"]+)"', forbidden.group(1))),
        None if end is None else end.group(1),
    )


def violations(rules: Rules, response: str) -> list[str]:
    """Which rules a response breaks (words compared case-insensitively, whole words only)."""
    words = [w.casefold() for w in words_of(response)]
    broken = []
    if len(words) != rules.count:
        broken.append(f"{len(words)} words, not {rules.count}")
    broken += [f'missing "{w}"' for w in rules.required if w.casefold() not in words]
    broken += [f'uses "{w}"' for w in rules.forbidden if w.casefold() in words]
    if rules.end_word is not None and (not words or words[-1] != rules.end_word.casefold()):
        broken.append(f'does not end with "{rules.end_word}"')
    return broken


def example_response(rng: random.Random, rules: Rules, nouns: Sequence[str]) -> str:
    """'I remember the storm, the old keeper and waves.': a list whose items take 1-3 words
    ('waves', 'the waves', 'the old waves') so that the total is exactly `rules.count`."""
    pool = [n for n in nouns if n not in rules.forbidden and n not in rules.required]
    rng.shuffle(pool)
    heads = [w for w in rules.required if w != rules.end_word]
    tail = [rules.end_word] if rules.end_word is not None else []
    m = len(heads) + len(tail)
    while True:  # smallest item count whose 1-3-word items can add up to the target
        joiners = 2 + (1 if m > 1 else 0)  # 'I remember' and the final 'and'
        if m + joiners <= rules.count <= 3 * m + joiners:
            break
        m += 1
    fillers = [pool[i % len(pool)] for i in range(m - len(heads) - len(tail))]
    items_nouns = heads + fillers + tail
    extra = rules.count - joiners - m
    sizes = [1] * m
    for i in range(m):
        add = min(2, extra)
        sizes[i] += add
        extra -= add
    items = []
    for noun, size in zip(items_nouns, sizes, strict=True):
        prefix = ["the", rng.choice(ADJECTIVES)][: size - 1]
        items.append(" ".join([*prefix, noun]))
    listing = items[0] if m == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
    return f"I remember {listing}."


class IfWordsTask(GeneratedTask):
    """Exact word counts with required and forbidden words; longer and stricter at higher levels."""

    name = "if_words"
    version = "1"
    area = "instruct"
    language = "en"
    description = "Instruction following: exact word count, required and forbidden words."
    answer_format: str | None = None
    instruction = (
        "Follow every rule. End your reply with 'Answer:' followed by your response; only the "
        "text after the last 'Answer:' is checked."
    )

    def build(self, rng: random.Random, difficulty: Difficulty) -> Built:
        """A topic, rules drawn from its vocabulary, and a response that satisfies them."""
        lv = LEVELS[difficulty]
        topic = rng.choice(sorted(TOPICS))
        nouns = TOPICS[topic].split()
        chosen = rng.sample(nouns, lv.required + lv.forbidden)
        required = tuple(chosen[: lv.required])
        forbidden = tuple(chosen[lv.required :])
        end_word = required[-1] if lv.end_word else None
        rules = Rules(rng.randint(*lv.words), required, forbidden, end_word)
        question = "\n".join(
            [
                f"Write about {topic}.",
                "Rules:",
                *rules_text(rules),
                "A word is a run of letters or digits; hyphenated words and contractions count "
                "as one word.",
            ]
        )
        response = example_response(rng, rules, nouns)
        return Built(question, response, f"Answer: {response}")

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the response after the last 'Answer:' keeps every rule of the question.

        Without an 'Answer:' label there is no response to check (extraction fails), as for the
        other families: counting a preamble such as 'Sure, here it is:' as part of the response
        would fail a model on a formality, and guessing where the response starts would hide
        which words were counted.
        """
        rules = parse_rules(instance.question)
        response, method = response_text(output)
        if method != ANSWER_LINE or not words_of(response):
            return Score(False, None, False, NONE if method != ANSWER_LINE else method)
        return Score(not violations(rules, response), response[:300], True, method)
