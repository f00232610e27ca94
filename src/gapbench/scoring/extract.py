"""Final-answer extraction: strip <think> reasoning, then read a number or a named choice.

Evidence for an answer, strongest first:
1. the LAST explicit answer line ("Answer: X", "**Final answer:** X", "答案：X", "答え：X", "答：X",
   "#### X"; also the weaker "the answer is X" / "the remainder is X" / "答案是X");
2. the last `\\boxed{X}`;
3. the last number (or mentioned option) anywhere.

Choices made on purpose (each has a test):
- Inside an answer line we take the FIRST number, after dropping parentheticals and, when the line
  holds an equation, reading what follows its last '='. Models put the answer first ("Answer: 42
  apples, since ..."), so "Answer: not 5 but 7" reads 5: an answer line is read literally, hedging
  is not rewarded, and ranges ("3-5") read their first number.
- An explicit "Answer:" line that holds no number ("Answer: unknown", "Answer: -") yields no value
  (method 'answer-line-unreadable') rather than falling back to numbers in the reasoning: a fallback
  there would silently credit answers the model never gave. The weak forms ("the answer is ...")
  are skipped instead, since they also occur in ordinary prose.
- Reasoning is stripped before extraction, so an answer that appears only inside <think> is not
  read at all: the model never stated it.
- An answer line holding only the prompt's template ("Answer: <number>", "答え：<答え>") is no
  answer line: small models parrot the instruction after answering, and reading the template as
  unreadable would discard the real answer.
- An answer line restating an equation in the unknown ("Answer: -7x - 45 = 53") is working, not a
  value, and is passed over like a weak label; an output whose last number ends such an equation
  ("... 7x = -59") yields nothing (method 'unsolved-equation').
- Fallback readings are discredited in `review.py` when the output was cut at max_tokens, loops
  or echoes the prompt.
All regexes are linear-time (possessive quantifiers, bounded scans): outputs of 100k characters are
handled in milliseconds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from gapbench.scoring.numbers import (
    CJK_NUMERAL_CHARS,
    FULLWIDTH,
    format_number,
    parse_cjk_number,
    parse_number,
)
from gapbench.scoring.score import Score

ANSWER_LINE = "answer-line"
ANSWER_LINE_UNREADABLE = "answer-line-unreadable"
BOXED = "boxed"
LAST_NUMBER = "last-number"
LAST_MENTION = "last-mention"
UNSOLVED_EQUATION = "unsolved-equation"
NONE = "none"


@dataclass(frozen=True)
class Extraction:
    """What was read from an output, and how (one of the method constants above)."""

    value: str | None
    """Normalised answer: a canonical number ('42', '-2.5', '1/3') or the matching option."""
    method: str


# --- <think> stripping ---------------------------------------------------------------------

_THINK_TAG_RE = re.compile(r"<(/?)think>", re.IGNORECASE)


def strip_think(text: str) -> tuple[str, str | None]:
    """Split an output into (answer_text, reasoning); reasoning is None when there was no tag.

    Handles closed blocks, an unclosed `<think>` running to the end (the model ran out of tokens
    mid-thought), and a leading stray `</think>` (chat templates that open the block in the prompt).
    """
    answer: list[str] = []
    reasoning: list[str] = []
    pos = 0
    inside_from: int | None = None
    found = False
    for i, tag in enumerate(_THINK_TAG_RE.finditer(text)):
        found = True
        closing = tag.group(1) == "/"
        if i == 0 and closing:
            reasoning.append(text[: tag.start()])
        elif inside_from is None and not closing:
            answer.append(text[pos : tag.start()])
            inside_from = tag.end()
        elif inside_from is not None and closing:
            reasoning.append(text[inside_from : tag.start()])
            inside_from = None
        elif inside_from is None:
            answer.append(text[pos : tag.start()])  # a stray closing tag: drop just the tag
        else:
            continue  # a nested <think>: part of the reasoning
        pos = tag.end()
    if inside_from is not None:
        reasoning.append(text[inside_from:])
    else:
        answer.append(text[pos:])
    if not found:
        return text.strip(), None
    return "".join(answer).strip(), "\n".join(r.strip() for r in reasoning).strip()


# --- number candidates -------------------------------------------------------------------

_AR = r"(?:\d{1,3}(?:[,，]\d{3})++(?!\d)|\d++)(?:\.\d++)?"
_CJK = f"[{CJK_NUMERAL_CHARS}]++"
_NUMBER_RE = re.compile(
    r"(?P<sign>(?<![A-Za-z0-9_.)\]])-(?=[$€£¥￥]?\d)|负|負|マイナス)?"
    r"(?P<cur>[$€£¥￥])?"
    r"(?<![A-Za-z0-9_.])"  # not the tail of a word or number: x2, H2O, v1.2
    rf"(?P<body>(?:{_AR}|{_CJK})(?:{_AR}|{_CJK})*+)"
    r"(?:/(?P<den>\d++)(?!\d|\.\d))?"  # a full stop may end the sentence: "is 2/11."
)
_MAX_NUMBER_CHARS = 64
_PIECE_RE = re.compile(rf"{_AR}|{_CJK}")
_LIST_MARKER_RE = re.compile(r"^[ \t]*(\d{1,3})[.)][ \t]+\S", re.MULTILINE)
# A lone CJK numeral is usually part of a word (一起, 万一, 三角形) unless a classifier follows.
_CLASSIFIERS = set(
    "个只本支块元角分人天岁米次名辆棵张条件台头匹份箱瓶袋盒斤克页道颗朵杯碗位年月周倍层组つ個枚円歳回冊"
)


@dataclass(frozen=True)
class _Candidate:
    start: int
    value: Fraction
    weak: bool
    """A list marker ('1. ') or a lone CJK numeral: used only when nothing stronger exists."""
    word_like: bool = False
    """A lone CJK numeral with no classifier (一起, 万一): too likely a word for the fallback."""


def _match_candidates(text: str, m: re.Match[str], markers: set[int]) -> list[_Candidate]:
    """The numbers in one regex match (usually one; a malformed CJK mix is read piece by piece)."""
    body, start = m.group("body"), m.start("body")
    if len(body) > _MAX_NUMBER_CHARS:
        return []  # a digit wall is no answer, and int() refuses >4300 digits anyway
    values: list[tuple[int, Fraction]] = []
    has_cjk = any(ch in CJK_NUMERAL_CHARS for ch in body)
    if not has_cjk:
        value = parse_number(body)
        den = m.group("den")
        if value is not None and den and int(den) and value.denominator == 1:
            value /= int(den)
        if value is not None:
            values.append((start, value))
    else:
        value = parse_cjk_number(body.replace(",", "").replace("，", ""))
        if value is not None:
            values.append((start, value))
        else:  # e.g. '3一' from '3一共'
            for piece in _PIECE_RE.finditer(body):
                piece_value = parse_number(piece.group())
                if piece_value is not None:
                    values.append((start + piece.start(), piece_value))
    found: list[_Candidate] = []
    for i, (pos, value) in enumerate(values):
        signed = -value if (m.group("sign") is not None and i == 0) else value
        end = m.end() if i == len(values) - 1 else pos + 1
        word_like = len(body) == 1 and has_cjk and text[end : end + 1] not in _CLASSIFIERS
        found.append(_Candidate(pos, signed, pos in markers or word_like, word_like))
    return found


def _pick(text: str, *, last: bool, allow_word_like: bool = True) -> _Candidate | None:
    """The first (or last) strong number in `text`, else the first (or last) weak one.

    Matches are cheap; parsing is not, so candidates are parsed lazily from the chosen end.
    """
    markers = {m.start(1) for m in _LIST_MARKER_RE.finditer(text)}
    matches = list(_NUMBER_RE.finditer(text))
    fallback: _Candidate | None = None
    for m in reversed(matches) if last else matches:
        cands = _match_candidates(text, m, markers)
        for cand in reversed(cands) if last else cands:
            if cand.word_like and not allow_word_like:
                continue
            if not cand.weak:
                return cand
            fallback = fallback or cand
    return fallback


# --- normalisation and answer segments ---------------------------------------------------

_FRAC_RE = re.compile(r"\\[dt]?frac\{\s*(-?\d+)\s*\}\{\s*(\d+)\s*\}")
_LATEX_JUNK_RE = re.compile(r"\{,\}|\\[,!;]|\\(?=\$)")
_SPACED_THOUSANDS_RE = re.compile(r"(?<=\d)[ \u00a0\u2009\u202f](?=\d{3}(?!\d))")
_PARENS_RE = re.compile(r"\([^()]*\)|（[^（）]*）")
_BLANK_RE = re.compile(r"[\s*_#:：>`$\-–—.。,，]*")
_LABEL_RE = re.compile(
    r"(?<![A-Za-z])(?:final\s+)?answer\s*(?:\*\*|__)?\s*[:：]"
    r"|(?<![A-Za-z])final\s+answer(?=[ \t]*(?:\*\*|__)?[ \t]*$)"
    r"|^[ \t]*####(?=\s)"
    r"|(?:最终|最終)?答案\s*(?:\*\*)?\s*[:：]"
    r"|答え\s*(?:\*\*)?\s*[:：は]"
    r"|(?<![解回])答\s*[:：]"
    # 'the remainder is X' answers the modular family's 'what is the remainder' as directly as
    # 'the answer is X' does (found by the extraction audit: a reply cut just after saying it).
    r"|(?P<weak>(?<![A-Za-z])(?:answer|remainder)\s+is\b\s*:?|答案[是为為])",
    re.IGNORECASE | re.MULTILINE,
)
# The answer template of the prompt, parroted: '<number>', '<答え>', a cut '<', '[a, b, c, ...]',
# with no digit after it ('答え：<答え>1973年' fills the template in, and is read).
_PLACEHOLDER_RE = re.compile(
    r"[\s\"'“”「『*`]*+(?:<[^<>\d\n]{0,60}+(?:>|$)|\[a, b, c, \.\.\.\])[^\d\n]*+$"
)
# A coefficient on a letter ('7x', '3(x', '-2y'): the left side of an equation still to be solved.
# No space between them: '2 x 3' and '5x5' are products.
_UNKNOWN_TERM_RE = re.compile(r"(?<![A-Za-z])\d++\(?[a-z](?![A-Za-z0-9])")
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_SCAN_LIMIT = 2000
_BOXED_TRIES = 20


def _normalise(text: str) -> str:
    text = text.translate(FULLWIDTH)
    text = _FRAC_RE.sub(r"\1/\2", text)
    return _LATEX_JUNK_RE.sub("", text)


def _answer_segments(text: str) -> list[tuple[str, bool]]:
    """(segment, is_weak) for each answer label, last label first.

    A segment runs from the label to the end of its line (or the next label); when that is blank
    ("Answer:\\n42", "**Final Answer**\\n\\n42") the next non-blank line is used instead.
    """
    labels = list(_LABEL_RE.finditer(text))
    segments: list[tuple[str, bool]] = []
    for i in range(len(labels) - 1, -1, -1):
        m = labels[i]
        limit = labels[i + 1].start() if i + 1 < len(labels) else len(text)
        pos = m.end()
        segment = ""
        while pos < limit:
            newline = text.find("\n", pos, limit)
            end = limit if newline < 0 else newline
            segment = text[pos:end]
            if not _BLANK_RE.fullmatch(segment):
                break
            segment, pos = "", end + 1
        if _PLACEHOLDER_RE.match(segment):
            continue
        segments.append((segment, m.group("weak") is not None))
    return segments


def _unsolved_equation(segment: str) -> bool:
    """True for '2x + 5 = 12'-like segments (or a congruence '14x ≡ 31'): the side before the
    last '=' holds a coefficient on a letter, so what follows is no value of the unknown
    ('x = 7' is a value)."""
    last = max(segment.rfind("="), segment.rfind("≡"))
    if last < 0:
        return False
    before = segment[max(segment.rfind("=", 0, last), segment.rfind("≡", 0, last)) + 1 : last]
    return _UNKNOWN_TERM_RE.search(before) is not None


def _segment_number(segment: str) -> _Candidate | None:
    segment = _SPACED_THOUSANDS_RE.sub("", segment)
    variants = dict.fromkeys([_PARENS_RE.sub(" ", segment), segment])
    for variant in variants:
        if "=" in variant:
            found = _pick(variant[variant.rfind("=") + 1 :], last=False)
            if found is not None:
                return found
        found = _pick(variant, last=False)
        if found is not None:
            return found
    return None


def _boxed_contents(text: str) -> list[str]:
    """Contents of the last few \\boxed{...}, last first; nested braces are matched."""
    contents: list[str] = []
    for m in reversed(list(_BOXED_RE.finditer(text))[-_BOXED_TRIES:]):
        depth, pos = 1, m.end()
        stop = min(len(text), pos + _BOXED_SCAN_LIMIT)
        while pos < stop and depth:
            depth += {"{": 1, "}": -1}.get(text[pos], 0)
            pos += 1
        if depth == 0:
            contents.append(text[m.end() : pos - 1])
    return contents


# --- public API --------------------------------------------------------------------------


def answer_segments(text: str) -> list[tuple[str, bool]]:
    """(segment, is_weak) for each answer label, last first, normalised as extract_number reads
    them (full-width digits, LaTeX fractions); for families with their own answer readers."""
    return _answer_segments(_normalise(text))


def boxed_contents(text: str) -> list[str]:
    """Contents of the last few \\boxed{...}, last first, normalised like answer_segments."""
    return _boxed_contents(_normalise(text))


def is_template_line(line: str) -> bool:
    """True when `line` is an answer label followed only by the prompt's template
    ('Answer: <number>'): a parroted instruction, not the model's last word."""
    label = _LABEL_RE.search(line)
    return label is not None and _PLACEHOLDER_RE.match(line[label.end() :]) is not None


def last_answer_label_end(text: str) -> int | None:
    """Offset in `text` just past its last strong answer label ('Answer:', '答案：'); None if none.

    For answers longer than a line (free text, JSON): everything after this offset is the answer.
    """
    ends = [m.end() for m in _LABEL_RE.finditer(text) if m.group("weak") is None]
    return ends[-1] if ends else None


def extract_number(text: str) -> Extraction:
    """Read the final numeric answer from `text` (already stripped of <think>); see module doc."""
    text = _normalise(text)
    for segment, weak in _answer_segments(text):
        if _unsolved_equation(segment):
            continue
        found = _segment_number(segment)
        if found is not None:
            return Extraction(format_number(found.value), ANSWER_LINE)
        if not weak:
            return Extraction(None, ANSWER_LINE_UNREADABLE)
    for content in _boxed_contents(text):
        found = _segment_number(content)
        if found is not None:
            return Extraction(format_number(found.value), BOXED)
    # A lone word-like numeral counts only when it is the whole output ("一"), never in prose.
    last = _pick(text, last=True, allow_word_like=len(text.strip()) == 1)
    if last is not None:
        # '7x = -59' as the last word solves nothing: -59 is no value of x.
        line_start = text.rfind("\n", 0, last.start) + 1
        if _unsolved_equation(text[line_start : last.start + 1]):
            return Extraction(None, UNSOLVED_EQUATION)
        return Extraction(format_number(last.value), LAST_NUMBER)
    return Extraction(None, NONE)


@functools.lru_cache(maxsize=64)
def _option_regex(options: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted((o for o in options if o.strip()), key=len, reverse=True)
    alternatives = "|".join(re.escape(o.strip()) for o in ordered)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE)


def extract_choice(text: str, options: Sequence[str]) -> Extraction:
    """Read which of `options` (names, words) the output answers, case-insensitively.

    Same evidence order as extract_number: the first option named in the last answer line, then in
    the last \\boxed{}, then the last option mentioned anywhere. Returns the option as given.
    """
    if not any(o.strip() for o in options):
        return Extraction(None, NONE)
    canonical = {o.strip().casefold(): o for o in options}
    pattern = _option_regex(tuple(options))
    text = _normalise(text)

    def first_in(segment: str) -> str | None:
        m = pattern.search(segment)
        return None if m is None else canonical[m.group().casefold()]

    for segment, weak in _answer_segments(text):
        found = first_in(segment)
        if found is not None:
            return Extraction(found, ANSWER_LINE)
        if not weak:
            return Extraction(None, ANSWER_LINE_UNREADABLE)
    for content in _boxed_contents(text):
        found = first_in(content)
        if found is not None:
            return Extraction(found, BOXED)
    mentions = list(pattern.finditer(text))
    if mentions:
        return Extraction(canonical[mentions[-1].group().casefold()], LAST_MENTION)
    return Extraction(None, NONE)


def numbers_equal(a: str, b: str) -> bool:
    """Exact numeric equality of two number strings ('12' == '12.0' == '24/2' == '十二')."""
    x, y = parse_number(a), parse_number(b)
    return x is not None and y is not None and x == y


def grade_number(reference: str, output: str) -> Score:
    """Score a raw model output against a numeric reference: strip <think>, extract, compare."""
    answer_text, _ = strip_think(output)
    got = extract_number(answer_text)
    correct = got.value is not None and numbers_equal(got.value, reference)
    return Score(correct, got.value, got.value is not None, got.method)


def grade_choice(reference: str, output: str, options: Sequence[str]) -> Score:
    """Score a raw model output against one of `options` (case-insensitive)."""
    answer_text, _ = strip_think(output)
    got = extract_choice(answer_text, options)
    correct = got.value is not None and got.value.casefold() == reference.strip().casefold()
    return Score(correct, got.value, got.value is not None, got.method)
