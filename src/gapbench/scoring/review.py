"""A second look at every family's Score: how the generation ended and what shape the output has.

Each family's `score(instance, output)` reads the strongest evidence it finds: an answer line, a
\\boxed{}, and only failing those a fallback (the last number, the last option named, the last
line, the last JSON object). The fallback is right for short natural replies ("Zoe", "She has 42
apples.") but wrong for outputs that never gave an answer: a repetition loop, a chain of
reasoning cut off at `max_tokens`, a copy of the question. There the last number is a step
number or a number from the question, and counting it as a (wrong) answer hides a failure to
answer inside the accuracy figure instead of showing it in noans%.

So every family's result passes through `review`, one place keyed on the Score's method, rather
than twenty `score` methods each learning about finish reasons:
- an explicit reading (answer line, \\boxed{}, an unreadable answer line) is kept as it is, even
  when the output was cut or looped later: the model stated it;
- a fallback reading becomes an extraction failure with a visible reason when the output ends in
  a repetition loop ('repetition-loop'), was cut at max_tokens ('truncated-no-answer'), or ends
  with a sentence copied from the prompt ('echoed-prompt').
`score_output` is what the runner calls, and what the extraction audit test calls.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gapbench.scoring.extract import LAST_MENTION, LAST_NUMBER, strip_think
from gapbench.scoring.score import Score
from gapbench.scoring.structured import LAST_LINE, WHOLE_OUTPUT, json_objects

REPETITION_LOOP = "repetition-loop"
TRUNCATED_NO_ANSWER = "truncated-no-answer"
ECHOED_PROMPT = "echoed-prompt"
FALLBACK_METHODS = frozenset({LAST_NUMBER, LAST_MENTION, LAST_LINE, WHOLE_OUTPUT})
"""Readings taken without any sign from the model that this is its answer."""


@dataclass(frozen=True)
class Loop:
    """The repeated unit an output ends in, and how many times it repeats (cut copies count in
    part: 3.4 is three copies and a cut fourth)."""

    unit: str
    repeats: float


# Loop detection looks at the end of the output only: a loop runs until max_tokens or the end of
# generation, and bounding the text keeps the work linear and small on 100k-character outputs.
_TAIL_CHARS = 2000
_MAX_UNIT = 400
_MIN_LOOP_CHARS = 40
_SPACE_RE = re.compile(r"\s++")
# List markers and step numbers count up in a loop ('7. 15块？ 8. 15块？', 'Step 6: ... Step 7:'),
# so they are masked; other digits are kept, since a chain of equalities ('= 2/12 - 2/11 = 1/12')
# would look periodic with every number masked.
_MARKER_RE = re.compile(
    r"^([ \t]*+(?:[-*•][ \t]*+)?(?:step[ \t]*+)?)\d{1,3}+(?=[.)、:：])",
    re.IGNORECASE | re.MULTILINE,
)
# A unit with letters must repeat 3 times; one of digits and symbols ('1.5 * 940 = 1520. ') must
# be 8 characters long and repeat 4 times, or repeat 12 times ('1.1.1.1...'). A unit of digits
# alone ('.121212...') is a runaway number, which the readers handle, not a loop.
_MIN_REPEATS_WORDS = 3.0
_MIN_SYMBOL_UNIT = 8
_MIN_REPEATS_SYMBOLS = 4.0
_MIN_REPEATS_SHORT = 12.0


def _z_array(s: str) -> list[int]:
    """z[i] = length of the longest common prefix of s and s[i:] (Gusfield's Z algorithm, O(n))."""
    n = len(s)
    z = [0] * n
    if n:
        z[0] = n
    left = right = 0
    for i in range(1, n):
        k = min(right - i, z[i - left]) if i < right else 0
        while i + k < n and s[k] == s[i + k]:
            k += 1
        z[i] = k
        if i + k > right:
            left, right = i, i + k
    return z


def _enough(unit: str, repeats: float) -> bool:
    if any(ch.isalpha() for ch in unit):
        return repeats >= _MIN_REPEATS_WORDS
    if not any(not ch.isdigit() and not ch.isspace() for ch in unit):
        return False
    if len(unit) >= _MIN_SYMBOL_UNIT and repeats >= _MIN_REPEATS_SYMBOLS:
        return True
    return repeats >= _MIN_REPEATS_SHORT


def _periodic_tail(text: str) -> Loop | None:
    """The shortest unit whose repetition makes up the end of `text`, if it repeats enough.

    On the reversed text, z[p] says how far the text keeps period p back from its end, so the
    longest periodic tail for every period comes out of one linear pass.
    """
    z = _z_array(text[::-1])
    n = len(text)
    for period in range(1, min(_MAX_UNIT, n // 2) + 1):
        span = period + z[period]
        unit = text[n - period :]
        if span >= _MIN_LOOP_CHARS and _enough(unit, span / period):
            return Loop(unit, span / period)
    return None


def find_loop(text: str) -> Loop | None:
    """The repetition loop `text` ends in, or None: the end of the output, list markers masked
    and whitespace collapsed, repeats one unit (see the thresholds above) over at least 40
    characters, so a short natural reply never counts."""
    tail = _MARKER_RE.sub(r"\g<1>#", text[-_TAIL_CHARS:])
    # A generation cut inside a multi-byte character ends in U+FFFD, which breaks the period.
    tail = _SPACE_RE.sub(" ", tail).strip().rstrip("\ufffd")
    if len(tail) < _MIN_LOOP_CHARS:
        return None
    return _periodic_tail(tail)


# --- echoes of the prompt -----------------------------------------------------------------------

_SENTENCE_END_RE = re.compile(r"[.?!。？！\n:：]")
_TRIM = " \t\"'“”‘’「」『』<>*`"
_MIN_ECHO_CHARS = 10


def _fold(text: str) -> str:
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFKC", text)).strip(_TRIM).casefold()


def _sentences(text: str) -> set[str]:
    return {s for s in map(_fold, _SENTENCE_END_RE.split(text)) if s}


def _echoed(line: str, sentences: set[str], *, allow_cut: bool) -> bool:
    last = line.rstrip(_TRIM)
    parts = [s for s in map(_fold, _SENTENCE_END_RE.split(last)) if s]
    if not parts or not set(parts[:-1]) <= sentences:
        return False
    if parts[-1] in sentences:
        return True
    # A cut echo ends inside a sentence of the prompt; it counts only after a whole echoed
    # sentence, so that a short reply which merely starts like one ('2020年6月18日') is no echo.
    cut = allow_cut and (len(parts) > 1) and not _SENTENCE_END_RE.match(last[-1:])
    return cut and any(s.startswith(parts[-1]) for s in sentences)


def echoes_prompt(text: str, prompt: str) -> bool:
    """True when the last line of `text` is nothing but whole sentences of the prompt ('Ingrid
    scored lower than Zoe.', 'The names of all knights, separated by commas, or none.'); it may
    end cut short inside one ('面包店早上有二十三块饼干。送货之后，饼干的数'), and a line that
    is only the cut start of a sentence counts when the line before it is a whole echo.

    Whole sentences, not any substring: a reply such as 'Alice and Lena' may well occur inside
    the question and still be the answer. A last line under 10 characters counts only as the cut
    start of a sentence after a whole echo, so a bare 'Zoe' or '42' is an answer even when the
    prompt contains it.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return False
    sentences = _sentences(prompt)
    if len(_fold(lines[-1])) >= _MIN_ECHO_CHARS and _echoed(lines[-1], sentences, allow_cut=True):
        return True
    if len(lines) < 2 or len(_fold(lines[-2])) < _MIN_ECHO_CHARS:
        return False
    if not _echoed(lines[-2], sentences, allow_cut=False):
        return False
    head = _fold(lines[-1])
    if not any(ch.isalpha() for ch in head) or _SENTENCE_END_RE.search(head):
        return False
    return any(s.startswith(head) for s in sentences)


def _contained(part: object, whole: object) -> bool:
    """True when `part` is `whole` with some object members left out (a schema copied with its
    'required' list dropped is still a copy)."""
    if isinstance(part, dict) and isinstance(whole, dict):
        return all(k in whole and _contained(v, whole[k]) for k, v in part.items())
    if isinstance(part, list) and isinstance(whole, list):
        return len(part) == len(whole) and all(map(_contained, part, whole))
    return part == whole


def echoes_prompt_object(extracted: str, prompt: str) -> bool:
    """True when the JSON object read from an output is a copy of one printed in the prompt
    (the schema an if_json question shows), with at most some members left out."""
    try:
        found = json.loads(extracted)
    except ValueError:
        return False
    if not isinstance(found, dict) or len(found) < 2:
        return False
    return any(_contained(found, shown) for shown in json_objects(prompt))


# --- the review --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ending:
    """How a generation ended, as the runner knows it."""

    finish_reason: str
    """'stop', 'length' (cut at max_tokens), or 'unknown' where it was not recorded."""
    completion_tokens: int | None = None
    max_tokens: int | None = None

    @property
    def cut(self) -> bool:
        """Cut at max_tokens: reported so, or every allowed token spent (some servers report
        'stop' for a generation that ran into the cap)."""
        if self.finish_reason == "length":
            return True
        spent, cap = self.completion_tokens, self.max_tokens
        return spent is not None and cap is not None and spent >= cap


def review(score: Score, output: str, ending: Ending, prompt: str = "") -> Score:
    """`score` as the family read it, unless it rests on a fallback that the output's ending or
    shape discredits (see the module doc); then an extraction failure whose method says why."""
    if score.method not in FALLBACK_METHODS:
        return score
    text, _ = strip_think(output)
    if find_loop(text) is not None:
        return Score(False, None, False, REPETITION_LOOP)
    if ending.cut:
        return Score(False, None, False, TRUNCATED_NO_ANSWER)
    if prompt and echoes_prompt(text, prompt):
        return Score(False, None, False, ECHOED_PROMPT)
    json_copy = score.method == WHOLE_OUTPUT and score.extracted is not None
    if prompt and json_copy and echoes_prompt_object(score.extracted or "", prompt):
        return Score(False, None, False, ECHOED_PROMPT)
    return score


InstanceT = TypeVar("InstanceT", contravariant=True)


class ScoredFamily(Protocol[InstanceT]):
    """What `score_output` needs of a task family. Declared here rather than imported from
    tasks/base.py: tasks import scoring, so scoring must not import tasks (docs/architecture.md);
    every Task satisfies it."""

    def score(self, instance: InstanceT, output: str) -> Score: ...

    def chat_prompt(self, instance: InstanceT) -> str: ...


def score_output(
    task: ScoredFamily[InstanceT], instance: InstanceT, output: str, ending: Ending
) -> Score:
    """Score one generation as the runner does: the family's own score, then `review` against
    the prompt the family writes for the instance."""
    return review(task.score(instance, output), output, ending, task.chat_prompt(instance))
