"""Reading code out of model answers, and cutting base-model continuations."""

from __future__ import annotations

from gapbench.scoring.code_extract import (
    BARE,
    FENCED,
    FENCED_UNCLOSED,
    NONE,
    extract_code,
    truncate_completion,
)


def test_a_python_fence_is_read() -> None:
    out = "Here it is:\n```python\ndef f(x):\n    return x\n```\nThis returns x."
    got = extract_code(out, "f")
    assert (got.code, got.method) == ("def f(x):\n    return x\n", FENCED)


def test_the_block_defining_the_entry_point_wins_over_later_examples() -> None:
    out = (
        "```python\ndef f(x):\n    return 2 * x\n```\nUsage:\n```python\nprint(f(3))\n```\n"
        "Output:\n```\n6\n```"
    )
    assert extract_code(out, "f").code == "def f(x):\n    return 2 * x\n"


def test_the_last_defining_block_is_the_final_answer() -> None:
    out = (
        "```python\ndef f(x):\n    return 1\n```\nOops, fixed:\n```py\ndef f(x):\n    return 2\n```"
    )
    assert extract_code(out, "f").code == "def f(x):\n    return 2\n"


def test_an_unclosed_fence_runs_to_the_end() -> None:
    got = extract_code("```python\ndef f(x):\n    return x", "f")
    assert (got.code, got.method) == ("def f(x):\n    return x", FENCED_UNCLOSED)


def test_bare_code_keeps_imports_and_stops_at_prose() -> None:
    out = "Sure.\nimport math\ndef f(x):\n    return math.sqrt(x)\n\nThis uses the math module."
    got = extract_code(out, "f")
    assert got.method == BARE
    assert got.code == "import math\ndef f(x):\n    return math.sqrt(x)\n"


def test_reasoning_is_ignored() -> None:
    out = "<think>```python\ndef f(x):\n    return 0\n```</think>"
    out += "```python\ndef f(x):\n    return 1\n```"
    assert extract_code(out, "f").code == "def f(x):\n    return 1\n"


def test_no_code_is_none() -> None:
    assert extract_code("I cannot help with that.", "f").method == NONE
    assert extract_code("", "f").code is None


def test_truncate_completion_stops_at_the_next_top_level_statement() -> None:
    body = "    return x + 1\n"
    assert truncate_completion(body + "\n\ndef g():\n    pass\n") == body + "\n"
    assert truncate_completion(body + "\nif __name__ == '__main__':\n    f(1)") == body
    assert truncate_completion(body + "\nprint(f(2))") == body
    assert truncate_completion(body) == body
