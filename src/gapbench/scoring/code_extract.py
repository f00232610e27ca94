"""Pull the program out of a model's answer.

Evidence, strongest first:
1. a fenced block (```python ... ```, ```py, or a bare ```): the last one that defines the wanted
   function, else the last python-tagged one, else the last one; an unclosed final fence (the model
   ran out of tokens) runs to the end of the text;
2. bare code: the text from the first line that defines the wanted function (or any top-level
   def/import/class line), up to the first line of prose after it;
3. nothing: method 'none'.

Base models continue a prompt instead of answering it; `truncate_completion` cuts such a
continuation where a new top-level statement starts, as the Codex paper's stop sequences do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gapbench.scoring.extract import strip_think

FENCED = "fenced"
FENCED_UNCLOSED = "fenced-unclosed"
BARE = "bare"
NONE = "none"

_FENCE_RE = re.compile(
    r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.M
)
_OPEN_FENCE_RE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n", re.MULTILINE)
_CODE_START_RE = re.compile(r"^(?:def |async def |class |import |from \S+ import |@)", re.MULTILINE)
_PYTHON_TAGS = {"python", "py", "python3", ""}
_COMPLETION_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert ", "\n#", "\n```")
"""Where a base model's function body ends: a new top-level statement (Codex paper, plus fences)."""


@dataclass(frozen=True)
class CodeExtraction:
    """The program read from an output, and how (one of the method constants above)."""

    code: str | None
    method: str


def _defines(code: str, entry_point: str | None) -> bool:
    if entry_point is None:
        return bool(_CODE_START_RE.search(code))
    return (
        re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.M) is not None
    )


def _fenced_blocks(text: str) -> list[tuple[str, str, bool]]:
    """(language tag, code, closed) for each fenced block, in order."""
    blocks: list[tuple[str, str, bool]] = []
    pos = 0
    for m in _FENCE_RE.finditer(text):
        blocks.append((m.group(1).lower(), m.group(2), True))
        pos = m.end()
    tail = _OPEN_FENCE_RE.search(text, pos)
    if tail is not None:
        blocks.append((tail.group(1).lower(), text[tail.end() :], False))
    return blocks


def _bare_code(text: str, entry_point: str | None) -> str | None:
    start = None
    if entry_point is not None:
        m = re.search(rf"^(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", text, re.M)
        if m is not None:
            start = m.start()
    if start is None:
        m = _CODE_START_RE.search(text)
        if m is None:
            return None
        start = m.start()
    # Imports written above the function belong to it.
    before = text[:start].splitlines(keepends=True)
    while before and re.match(r"(?:import |from \S+ import )", before[-1]):
        start -= len(before.pop())
    lines = text[start:].splitlines()
    kept: list[str] = []
    for line in lines:
        prose = line and not line[0].isspace() and not _looks_like_code(line)
        if prose and kept:
            break
        kept.append(line)
    return "\n".join(kept).rstrip() + "\n"


def _looks_like_code(line: str) -> bool:
    if _CODE_START_RE.match(line) or line.startswith(("#", ")", "]", "}")):
        return True
    # A top-level assignment or call: 'x = 1', 'CONST: int = 2', 'main()'.
    return re.match(r"[A-Za-z_][\w.]*\s*(?:[:=(\[]|\+=|-=)", line) is not None and not re.match(
        r"[A-Z][a-z]+ [a-z]", line
    )


def extract_code(output: str, entry_point: str | None = None) -> CodeExtraction:
    """The program in `output` (reasoning in <think> is ignored); see the module docstring."""
    text, _ = strip_think(output)
    blocks = _fenced_blocks(text)
    if blocks:
        chosen = (
            [b for b in blocks if _defines(b[1], entry_point)]
            or [b for b in blocks if b[0] in _PYTHON_TAGS]
            or blocks
        )[-1]
        if chosen[1].strip():
            return CodeExtraction(chosen[1], FENCED if chosen[2] else FENCED_UNCLOSED)
    bare = _bare_code(text, entry_point)
    if bare is not None and bare.strip():
        return CodeExtraction(bare, BARE)
    return CodeExtraction(None, NONE)


def truncate_completion(completion: str) -> str:
    """A base model's continuation of a function, cut where a new top-level statement begins."""
    cut = len(completion)
    for stop in _COMPLETION_STOPS:
        at = completion.find(stop)
        if at != -1:
            cut = min(cut, at)
    return completion[:cut]
