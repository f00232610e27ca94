"""The independent answer check of every fresh family, by task name.

Each check lives in its family's test file, next to the solver it uses, and recomputes the answer
from the question text (or, for code_gen, runs the reference source against tests computed by a
second rendering of each operation) without calling the generator. test_task_library.py runs the
check of every fresh task the registry holds and fails for one that has none here, so a new family
cannot arrive without a second opinion on its answers.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.tasks import (
    test_arith,
    test_boolean,
    test_cjk,
    test_cjk_numbers,
    test_code,
    test_fractions_task,
    test_if_json,
    test_if_words,
    test_ja_arith,
    test_ja_era,
    test_knights,
    test_linear,
    test_lists,
    test_logic,
    test_modular,
    test_percent,
)

from gapbench.tasks.base import Instance

ANSWER_CHECKS: dict[str, Callable[[Instance], None]] = {
    "arith": test_arith.check_answer,
    "logic": test_logic.check_answer,
    "zh_arith": test_cjk.check_answer,
    "fractions": test_fractions_task.check_answer,
    "percent": test_percent.check_answer,
    "modular": test_modular.check_answer,
    "linear": test_linear.check_answer,
    "knights": test_knights.check_answer,
    "boolean": test_boolean.check_answer,
    "lists": test_lists.check_answer,
    "ja_arith": test_ja_arith.check_answer,
    "zh_numbers": test_cjk_numbers.check_answer,
    "ja_numbers": test_cjk_numbers.check_answer,
    "ja_era": test_ja_era.check_answer,
    "if_words": test_if_words.check_answer,
    "if_json": test_if_json.check_answer,
    "code_gen": test_code.check_answer,
}
"""Raises AssertionError, naming the question, when the instance's stored answer is wrong."""
