"""Exact numbers: parsing (Arabic, fractions, Chinese/Japanese numerals) and canonical formatting.

Everything is a `Fraction` internally so that "12", "12.0", "24/2" and "十二" compare equal without
floating-point surprises.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

CJK_DIGITS: dict[str, int] = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "貳": 2, "两": 2, "兩": 2,
    "三": 3, "叁": 3, "參": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6,
    "陸": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
SMALL_UNITS: dict[str, int] = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
BIG_UNITS: dict[str, int] = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
CJK_NUMERAL_CHARS = "".join([*CJK_DIGITS, *SMALL_UNITS, *BIG_UNITS])

# Full-width digits and signs as typed by CJK input methods; U+2212 is the typographic minus.
FULLWIDTH = str.maketrans(
    {**{chr(0xFF10 + i): str(i) for i in range(10)}, "．": ".", "－": "-", "−": "-", "＄": "$"}
)
_SIGNS = ("-", "负", "負", "マイナス")
_CURRENCY = "$€£¥￥"
_ARABIC_PIECE = re.compile(r"\d+(?:\.\d+)?")
_ZERO = {"零", "〇"}


def parse_number(text: str) -> Fraction | None:
    """Parse one number written alone: '-1,234.5', '3/4', '$12', '三百二十五', '1.2万', '负五'.

    Returns None for anything that is not exactly one number.
    """
    s = text.strip().translate(FULLWIDTH).replace(" ", "")
    negative = False
    for sign in _SIGNS:
        if s.startswith(sign):
            negative, s = True, s[len(sign) :]
            break
    s = s.lstrip(_CURRENCY)
    if not s:
        return None
    if any(ch in CJK_NUMERAL_CHARS for ch in s):
        value = parse_cjk_number(s.replace(",", "").replace("，", ""))
    else:
        value = _parse_arabic(s)
    if value is None:
        return None
    return -value if negative else value


def _parse_arabic(s: str) -> Fraction | None:
    if re.fullmatch(r"\d{1,3}(?:[,，]\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "").replace("，", "")
    try:
        if "/" in s:
            num, _, den = s.partition("/")
            if not (re.fullmatch(r"\d+", num) and re.fullmatch(r"\d+", den)) or int(den) == 0:
                return None
            return Fraction(int(num), int(den))
        if not re.fullmatch(r"\d+(?:\.\d+)?", s):
            return None
        return Fraction(Decimal(s))
    except (InvalidOperation, ValueError):
        return None


def parse_cjk_number(s: str, *, colloquial: bool = True) -> Fraction | None:
    """Parse Chinese/Japanese numerals, possibly mixed with Arabic digits ('3万5千', '1.2万').

    Accepts the colloquial short form where a trailing digit counts one unit down ('一万五' =
    15000, '两百五' = 250), and positional digit strings without units ('二〇二四' = 2024).
    Returns None for malformed input such as '十百' or '一三万'.

    Japanese writes no 零 for skipped places, so '千五' there is 1005, not the Chinese colloquial
    1500: pass `colloquial=False` to read a trailing digit as ones.
    """
    tokens = _tokenize_cjk(s)
    if tokens is None or not tokens:
        return None
    if all(kind in ("digit", "zero") and cjk for kind, _, cjk in tokens):
        # Positional form: every token a single CJK digit, no units.
        return Fraction(int("".join(str(v) for _, v, _ in tokens)))
    return _evaluate_cjk(tokens, colloquial)


def _tokenize_cjk(s: str) -> list[tuple[str, Fraction, bool]] | None:
    """Tokens (kind, value, is_cjk): kind is 'digit', 'small', 'big' or 'zero'."""
    tokens: list[tuple[str, Fraction, bool]] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch.isdigit():
            m = _ARABIC_PIECE.match(s, i)
            if m is None:
                return None
            tokens.append(("digit", Fraction(Decimal(m.group())), False))
            i = m.end()
            continue
        if ch in _ZERO:
            tokens.append(("zero", Fraction(0), True))
        elif ch in CJK_DIGITS:
            tokens.append(("digit", Fraction(CJK_DIGITS[ch]), True))
        elif ch in SMALL_UNITS:
            tokens.append(("small", Fraction(SMALL_UNITS[ch]), True))
        elif ch in BIG_UNITS:
            tokens.append(("big", Fraction(BIG_UNITS[ch]), True))
        else:
            return None
        i += 1
    return tokens


def _evaluate_cjk(tokens: list[tuple[str, Fraction, bool]], colloquial: bool) -> Fraction | None:
    total = Fraction(0)  # everything already multiplied by 万/亿
    section = Fraction(0)  # the part below the next big unit
    pending: Fraction | None = None  # a digit waiting for its unit
    pending_cjk = False
    last_small: Fraction | None = None  # units within a section must strictly descend
    last_big: Fraction | None = None
    last_unit: Fraction | None = None  # unit right before the pending digit (no 零 between)
    for kind, value, is_cjk in tokens:
        if kind == "zero":
            if pending is not None:
                return None
            last_unit = None
        elif kind == "digit":
            if pending is not None:
                return None
            pending, pending_cjk = value, is_cjk
        elif kind == "small":
            if last_small is not None and value >= last_small:
                return None
            section += (pending if pending is not None else 1) * value
            pending, last_small, last_unit = None, value, value
        else:  # big unit
            if last_big is not None and value >= last_big and value == 10**4:
                return None  # 万 after 万 with no 亿 between
            section += pending if pending is not None else 0
            if value == 10**8:
                base = total + section
                total = (base if base else 1) * value
            else:
                total += (section if section else 1) * value
            section, pending, last_small, last_big, last_unit = (
                Fraction(0), None, None, value, value
            )  # fmt: skip
    if pending is not None:
        # Colloquial '一万五' = 15000: a lone CJK digit right after a unit counts one unit down.
        scale = last_unit / 10 if (colloquial and last_unit is not None and pending_cjk) else 1
        section += pending * max(scale, Fraction(1))
    return total + section


def format_number(value: Fraction) -> str:
    """Canonical text: '42', '-7', '2.5' (exact decimals, no trailing zeros), else '1/3'."""
    if value.denominator == 1:
        return str(value.numerator)
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    # Exact: scale to an integer number of 10**-places units instead of dividing Decimals, whose
    # default 28-digit precision would round long expansions.
    places = max(twos, fives)
    scaled = abs(value.numerator) * 10**places // value.denominator
    digits = str(scaled).rjust(places + 1, "0")
    text = f"{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".")
    return f"-{text}" if value < 0 else text


_CJK_DIGIT_CHARS = "零一二三四五六七八九"


def to_chinese_numeral(n: int, liang: bool = False) -> str:
    """Write 0 <= n < 10**12 in standard Chinese numerals: 325 -> 三百二十五, 1005 -> 一千零五.

    With `liang`, a 2 before 百/千/万/亿 is written 两 as in everyday speech (两千零五).
    """
    if not 0 <= n < 10**12:
        raise ValueError(f"to_chinese_numeral supports 0 <= n < 10**12, got {n}")
    if n == 0:
        return "零"
    groups = [(n // 10**8) % 10**4, (n // 10**4) % 10**4, n % 10**4]
    big = ["亿", "万", ""]
    out: list[str] = []
    zero_pending = False
    for group, unit in zip(groups, big, strict=True):
        if group == 0:
            zero_pending = zero_pending or bool(out)
            continue
        if out and (zero_pending or group < 1000):
            out.append("零")
        if liang and group == 2 and unit:
            out.append("两")
        else:
            out.append(_group_to_chinese(group, liang))
        out.append(unit)
        zero_pending = False
    text = "".join(out)
    # 10-19 at the front read 十X, not 一十X; elsewhere 一十 stays (一百一十).
    return text[1:] if text.startswith("一十") else text


def _group_to_chinese(group: int, liang: bool) -> str:
    digits = [group // 1000, (group // 100) % 10, (group // 10) % 10, group % 10]
    units = ["千", "百", "十", ""]
    out: list[str] = []
    zero_pending = False
    for d, unit in zip(digits, units, strict=True):
        if d == 0:
            zero_pending = zero_pending or bool(out)
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        out.append("两" if (liang and d == 2 and unit in ("千", "百")) else _CJK_DIGIT_CHARS[d])
        out.append(unit)
    return "".join(out)


_JA_SMALL = (("千", 1000), ("百", 100), ("十", 10))
_JA_BIG = (("億", 10**8), ("万", 10**4))


def to_japanese_numeral(n: int) -> str:
    """Write 0 <= n < 10**12 in Japanese kanji numerals: 1005 -> 千五, 35000000 -> 三千五百万.

    Unlike Chinese there is no 零 for skipped places, and 一 is left out before 十, 百 and 千
    (but kept before 万 and 億: 一万, 一億). 兆 is not written: parse_cjk_number does not read it.
    """
    if not 0 <= n < 10**12:
        raise ValueError(f"to_japanese_numeral supports 0 <= n < 10**12, got {n}")
    if n == 0:
        return "〇"
    out: list[str] = []
    rest = n
    for unit, size in _JA_BIG:
        group, rest = divmod(rest, size)
        if group:
            out.append(_ja_group(group) + unit)
    out.append(_ja_group(rest))
    return "".join(out)


def _ja_group(group: int) -> str:
    """0 <= group < 10000 in kanji; '' for 0."""
    out: list[str] = []
    for unit, size in _JA_SMALL:
        digit, group = divmod(group, size)
        if digit:
            out.append(("" if digit == 1 else _CJK_DIGIT_CHARS[digit]) + unit)
    if group:
        out.append(_CJK_DIGIT_CHARS[group])
    return "".join(out)
