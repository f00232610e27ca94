"""`fractions`: answers recomputed by evaluating the question's expression with Python Fractions."""

from __future__ import annotations

import ast
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.tasks.library_helpers import batch, reply

from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance
from gapbench.tasks.fractions_task import FractionsTask

TASK = FractionsTask()
OPERATORS = {"easy": 1, "medium": 2, "hard": 3}


class _Exact(ast.NodeTransformer):
    """Every integer literal becomes Fraction(n), so '/' divides exactly."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Call(ast.Name("Fraction", ast.Load()), [node], [])


def evaluate(question: str) -> Fraction:
    """The value of 'Calculate <expression>.' using Python's own operator precedence."""
    m = re.fullmatch(r"Calculate (.+)\.", question)
    assert m, question
    tree = ast.parse(m.group(1).replace("×", "*").replace("÷", "/"), mode="eval")
    code = compile(ast.fix_missing_locations(_Exact().visit(tree)), "<question>", "eval")
    value = eval(code, {"Fraction": Fraction, "__builtins__": {}})
    assert isinstance(value, Fraction)
    return value


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    assert Fraction(inst.answer) == evaluate(inst.question), inst.question


def operator_count(question: str) -> int:
    return len(re.findall(r" [-+×÷] ", question))


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answers_match_the_expression(difficulty: Difficulty) -> None:
    for inst in batch("fractions", difficulty):
        value = evaluate(inst.question)
        assert inst.answer == str(value), inst.question  # str(Fraction) is in lowest terms
        assert operator_count(inst.question) == OPERATORS[difficulty]
        # A fraction right after ÷ is parenthesised: '÷ 2/3' would read as '(÷ 2) / 3'.
        assert not re.search(r"÷ \d", inst.question)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**9), st.sampled_from(DIFFICULTIES))
def test_answers_match_anywhere(seed: int, index: int, difficulty: Difficulty) -> None:
    inst = TASK.instance(seed, index, difficulty)
    assert Fraction(inst.answer) == evaluate(inst.question)


@pytest.mark.parametrize(
    ("output", "correct"),
    [
        (reply("19/12"), True),
        (reply("38/24"), True),  # equal value, not in lowest terms: the family tests arithmetic
        ("The result is \\boxed{\\frac{19}{12}}.", True),
        ("**Answer:** $\\frac{19}{12}$", True),
        (reply("19 / 12"), False),  # spaced: reads as 19, as in any answer line
        (reply("1.58"), False),
        (reply("12/19"), False),
        (reply("20/12"), False),
    ],
)
def test_scoring_formats(output: str, correct: bool) -> None:
    inst = TASK.instance(0, 0, "easy")
    inst = type(inst)(**{**inst.__dict__, "question": "Calculate 3/4 + 5/6.", "answer": "19/12"})
    assert TASK.score(inst, output).correct is correct


def test_exact_decimals_count_for_terminating_fractions() -> None:
    inst = TASK.instance(0, 0, "easy")
    inst = type(inst)(**{**inst.__dict__, "answer": "3/4"})
    assert TASK.score(inst, reply("0.75")).correct
    assert not TASK.score(inst, reply("0.7")).correct
