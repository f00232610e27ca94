"""`code_gen`: write a small Python function from a specification, scored by hidden tests.

A specification is a chain of operations from a small grammar over three value types (list[int],
str, int): filters, maps, reorderings, reductions and string transformations. Each operation has a
sentence for the prompt, a Python snippet for the reference solution and a callable that computes
the hidden tests' expected outputs. The same chain gives all three, so the question, the reference
and the tests cannot drift apart; easy, medium and hard chain 2, 3 and 4-5 operations.

The instance's answer is JSON: the signature, the reference solution and the hidden tests
(input, expected output). Scoring extracts the model's code and runs it against those tests in
the sandbox.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gapbench.scoring.code_extract import NONE, extract_code
from gapbench.scoring.score import Score
from gapbench.tasks.base import (
    DIFFICULTIES,
    Difficulty,
    FewShotExample,
    Instance,
    TaskBase,
    TaskKind,
)
from gapbench.tasks.seeding import FEWSHOT_SALT, derive_rng

if TYPE_CHECKING:
    from gapbench.scoring.sandbox import Check

VType = Literal["list[int]", "str", "int"]


@dataclass(frozen=True)
class OpSpec:
    """One grammar operation. Texts and code may use {k}, a small integer parameter."""

    name: str
    takes: VType
    gives: VType
    text: str
    """An imperative sentence: 'Keep only the elements greater than {k}.'"""
    code: str
    """A Python expression over `v` (the value so far): '[x for x in v if x > {k}]'."""
    ref: Callable[[Any, int], Any]
    """The same operation as a callable (value, k) -> value: an independent second rendering."""
    k_range: tuple[int, int] = (0, 0)


def _dedupe(items: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


_VOWELS = set("aeiouAEIOU")

OPS: tuple[OpSpec, ...] = (
    # list[int] -> list[int]
    OpSpec("keep_even", "list[int]", "list[int]", "Keep only the even elements.",
           "[x for x in v if x % 2 == 0]", lambda v, k: [x for x in v if not x & 1]),
    OpSpec("keep_odd", "list[int]", "list[int]", "Keep only the odd elements.",
           "[x for x in v if x % 2 != 0]", lambda v, k: [x for x in v if x & 1]),
    OpSpec("keep_gt", "list[int]", "list[int]", "Keep only the elements greater than {k}.",
           "[x for x in v if x > {k}]", lambda v, k: list(filter(lambda x: x > k, v)), (-10, 15)),
    OpSpec("keep_lt", "list[int]", "list[int]", "Keep only the elements less than {k}.",
           "[x for x in v if x < {k}]", lambda v, k: list(filter(lambda x: k > x, v)), (-10, 15)),
    OpSpec("keep_div", "list[int]", "list[int]", "Keep only the elements divisible by {k}.",
           "[x for x in v if x % {k} == 0]", lambda v, k: [x for x in v if abs(x) % k == 0],
           (3, 7)),
    OpSpec("drop_div", "list[int]", "list[int]", "Remove the elements divisible by {k}.",
           "[x for x in v if x % {k} != 0]", lambda v, k: [x for x in v if abs(x) % k], (3, 7)),
    OpSpec("square", "list[int]", "list[int]", "Replace each element by its square.",
           "[x * x for x in v]", lambda v, k: [x**2 for x in v]),
    OpSpec("times", "list[int]", "list[int]", "Multiply each element by {k}.",
           "[x * {k} for x in v]", lambda v, k: [k * x for x in v], (2, 12)),
    OpSpec("plus", "list[int]", "list[int]", "Add {k} to each element.",
           "[x + {k} for x in v]", lambda v, k: [k + x for x in v], (1, 25)),
    OpSpec("minus", "list[int]", "list[int]", "Subtract {k} from each element.",
           "[x - {k} for x in v]", lambda v, k: [x + -k for x in v], (1, 25)),
    OpSpec("abs", "list[int]", "list[int]", "Replace each element by its absolute value.",
           "[abs(x) for x in v]", lambda v, k: [-x if x < 0 else x for x in v]),
    OpSpec("reverse", "list[int]", "list[int]", "Reverse the order of the elements.",
           "v[::-1]", lambda v, k: list(reversed(v))),
    OpSpec("sort_asc", "list[int]", "list[int]", "Sort the elements in ascending order.",
           "sorted(v)", lambda v, k: sorted(v, key=lambda x: x)),
    OpSpec("sort_desc", "list[int]", "list[int]", "Sort the elements in descending order.",
           "sorted(v, reverse=True)", lambda v, k: sorted(v)[::-1]),
    OpSpec("dedupe", "list[int]", "list[int]",
           "Remove repeated values, keeping the first occurrence of each.",
           "list(dict.fromkeys(v))", lambda v, k: _dedupe(v)),
    OpSpec("take", "list[int]", "list[int]", "Keep only the first {k} elements.",
           "v[:{k}]", lambda v, k: [x for i, x in enumerate(v) if i < k], (2, 6)),
    OpSpec("drop", "list[int]", "list[int]", "Remove the first {k} elements.",
           "v[{k}:]", lambda v, k: [x for i, x in enumerate(v) if i >= k], (1, 4)),
    OpSpec("even_pos", "list[int]", "list[int]",
           "Keep only the elements at even positions (the 1st, 3rd, 5th, ...).",
           "v[::2]", lambda v, k: [x for i, x in enumerate(v) if i % 2 == 0]),
    OpSpec("prefix_sums", "list[int]", "list[int]",
           "Replace the list by its running totals (the i-th element becomes the sum of the "
           "first i elements).",
           "[sum(v[:i + 1]) for i in range(len(v))]",
           lambda v, k: [sum(v[:i]) for i in range(1, len(v) + 1)]),
    OpSpec("diffs", "list[int]", "list[int]",
           "Replace the list by the differences between neighbours (each element minus the one "
           "before it); the result is one element shorter, and empty for fewer than 2 elements.",
           "[b - a for a, b in zip(v, v[1:])]",
           lambda v, k: [v[i] - v[i - 1] for i in range(1, len(v))]),
    # list[int] -> int
    OpSpec("sum", "list[int]", "int", "Take the sum of the elements (0 for an empty list).",
           "sum(v)", lambda v, k: sum(reversed(v))),
    OpSpec("count", "list[int]", "int", "Count the elements.", "len(v)",
           lambda v, k: sum(1 for _ in v)),
    OpSpec("max", "list[int]", "int", "Take the largest element (0 for an empty list).",
           "max(v, default=0)", lambda v, k: sorted(v)[-1] if v else 0),
    OpSpec("min", "list[int]", "int", "Take the smallest element (0 for an empty list).",
           "min(v, default=0)", lambda v, k: sorted(v)[0] if v else 0),
    OpSpec("distinct", "list[int]", "int", "Count the distinct values.", "len(set(v))",
           lambda v, k: len(_dedupe(v))),
    OpSpec("spread", "list[int]", "int",
           "Take the largest element minus the smallest (0 for an empty list).",
           "max(v) - min(v) if v else 0", lambda v, k: sorted(v)[-1] - sorted(v)[0] if v else 0),
    # int -> int
    OpSpec("int_times", "int", "int", "Multiply the number by {k}.", "v * {k}",
           lambda v, k: k * v, (2, 9)),
    OpSpec("int_plus", "int", "int", "Add {k} to the number.", "v + {k}",
           lambda v, k: k + v, (1, 50)),
    OpSpec("int_mod", "int", "int",
           "Take the remainder of the number divided by {k} (Python's % operator).", "v % {k}",
           lambda v, k: v - k * (v // k), (2, 11)),
    OpSpec("int_digits", "int", "int", "Take the sum of the decimal digits of the absolute value.",
           "sum(int(d) for d in str(abs(v)))", lambda v, k: _digit_sum(abs(v))),
    # str -> str
    OpSpec("str_reverse", "str", "str", "Reverse the string.", "v[::-1]",
           lambda v, k: "".join(reversed(v))),
    OpSpec("upper", "str", "str", "Convert the string to upper case.", "v.upper()",
           lambda v, k: "".join(c.upper() for c in v)),
    OpSpec("lower", "str", "str", "Convert the string to lower case.", "v.lower()",
           lambda v, k: "".join(c.lower() for c in v)),
    OpSpec("no_vowels", "str", "str",
           "Remove every vowel (a, e, i, o, u, in either case).",
           "''.join(c for c in v if c.lower() not in 'aeiou')",
           lambda v, k: "".join(c for c in v if c not in _VOWELS)),
    OpSpec("no_spaces", "str", "str", "Remove every space.", "v.replace(' ', '')",
           lambda v, k: "".join(v.split(" "))),
    OpSpec("dashes", "str", "str", "Replace every space by a dash ('-').", "v.replace(' ', '-')",
           lambda v, k: "-".join(v.split(" "))),
    OpSpec("swapcase", "str", "str", "Swap the case of every letter.", "v.swapcase()",
           lambda v, k: "".join(c.lower() if c.isupper() else c.upper() for c in v)),
    OpSpec("str_sort", "str", "str", "Sort the characters by their Unicode code point.",
           "''.join(sorted(v))", lambda v, k: "".join(chr(c) for c in sorted(map(ord, v)))),
    OpSpec("str_take", "str", "str", "Keep only the first {k} characters.", "v[:{k}]",
           lambda v, k: "".join(v[i] for i in range(min(k, len(v)))), (2, 10)),
    OpSpec("str_dedupe", "str", "str",
           "Remove repeated characters, keeping the first occurrence of each.",
           "''.join(dict.fromkeys(v))", lambda v, k: "".join(_dedupe(v))),
    # str -> list[int] and str -> int
    OpSpec("word_lengths", "str", "list[int]",
           "Split the string into words at single spaces and take the length of each word.",
           "[len(w) for w in v.split(' ')]", lambda v, k: [len(w) for w in v.split(" ")]),
    OpSpec("codes", "str", "list[int]", "Replace each character by its Unicode code point.",
           "[ord(c) for c in v]", lambda v, k: list(map(ord, v))),
    OpSpec("count_vowels", "str", "int", "Count the vowels (a, e, i, o, u, in either case).",
           "sum(1 for c in v if c.lower() in 'aeiou')",
           lambda v, k: len([c for c in v if c in _VOWELS])),
    OpSpec("length", "str", "int", "Take the length of the string.", "len(v)",
           lambda v, k: sum(1 for _ in v)),
)  # fmt: skip

OPS_BY_NAME = {op.name: op for op in OPS}
_CHAIN_LENGTH: dict[Difficulty, tuple[int, int]] = {
    "easy": (2, 2),
    "medium": (3, 3),
    "hard": (4, 5),
}
_PARAM = {"list[int]": "xs", "str": "s", "int": "n"}
_WORDS = ("apple", "river", "Stone", "sky", "echo", "tiger", "Lamp", "ocean", "idea", "blue",
          "Quiet", "moon", "Under", "zebra", "kite", "AIR", "north", "e", "io")  # fmt: skip
N_TESTS = 8


def _digit_sum(n: int) -> int:
    total = 0
    while n:
        n, digit = divmod(n, 10)
        total += digit
    return total


@dataclass(frozen=True)
class Step:
    op: str
    k: int


def signature(chain: Sequence[Step]) -> str:
    """'def f(xs: list[int]) -> int'."""
    first, last = OPS_BY_NAME[chain[0].op], OPS_BY_NAME[chain[-1].op]
    return f"def f({_PARAM[first.takes]}: {first.takes}) -> {last.gives}"


def reference_source(chain: Sequence[Step]) -> str:
    """The reference solution rendered from the operations' code snippets."""
    param = _PARAM[OPS_BY_NAME[chain[0].op].takes]
    lines = [f"{signature(chain)}:", f"    v = {param}"]
    lines += [f"    v = {OPS_BY_NAME[s.op].code.format(k=s.k)}" for s in chain]
    lines.append("    return v")
    return "\n".join(lines) + "\n"


def apply_chain(chain: Sequence[Step], value: Any) -> Any:
    """Run the chain with the operations' callables (not their code snippets)."""
    for step in chain:
        value = OPS_BY_NAME[step.op].ref(value, step.k)
    return value


def describe(chain: Sequence[Step]) -> str:
    """The specification shown to the model."""
    first = OPS_BY_NAME[chain[0].op]
    steps = "\n".join(
        f"{i}. {OPS_BY_NAME[s.op].text.format(k=s.k)}" for i, s in enumerate(chain, start=1)
    )
    noun = {"list[int]": "list of integers", "str": "string", "int": "integer"}[first.takes]
    return (
        f"Write a Python function `{signature(chain)}`. Starting from its argument `"
        f"{_PARAM[first.takes]}` (a {noun}), apply these steps in order and return the result:\n"
        f"{steps}\nThe function must not modify its argument or print anything."
    )


def _random_chain(rng: random.Random, length: int) -> list[Step]:
    vtype: VType = rng.choice(("list[int]", "list[int]", "str"))
    chain: list[Step] = []
    for position in range(length):
        last = position == length - 1
        options = [
            op
            for op in OPS
            if op.takes == vtype
            and (not chain or op.name != chain[-1].op)
            # Keep every step able to matter: int ops only after a reduction, never a dead end.
            and (last or op.gives != "int" or position == length - 2)
        ]
        op = rng.choice(options)
        chain.append(Step(op.name, rng.randint(*op.k_range)))
        vtype = op.gives
    return chain


def _random_input(rng: random.Random, vtype: VType, i: int) -> Any:
    if vtype == "list[int]":
        length = 0 if i == 0 else rng.randint(1, 9)
        return [rng.randint(-20, 30) for _ in range(length)]
    if i == 0:
        return ""
    words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 4))]
    return " ".join(words)


def build(rng: random.Random, difficulty: Difficulty) -> tuple[list[Step], list[list[Any]]]:
    """A chain and its hidden tests [[input, expected], ...]. Chains whose tests cannot tell a
    correct function from a constant one are redrawn."""
    for _ in range(100):
        chain = _random_chain(rng, rng.randint(*_CHAIN_LENGTH[difficulty]))
        vtype = OPS_BY_NAME[chain[0].op].takes
        inputs = [_random_input(rng, vtype, i) for i in range(N_TESTS)]
        tests = [[x, apply_chain(chain, x)] for x in inputs]
        if len({json.dumps(t[1]) for t in tests}) >= 3:
            return chain, tests
    raise AssertionError("no informative chain found")  # never happens with this grammar


def hidden_tests(tests: Sequence[Sequence[Any]]) -> Check:
    """The hidden tests as a trusted check: they run outside the sandbox against a proxy for the
    candidate's `f`, so the candidate sees each input only and never the expected output, and
    what it returns is compared here (a rebound `type` or an `__eq__` that always says True
    stays on its side of the wall)."""
    from gapbench.scoring.sandbox import Check

    def verify(f: Callable[..., Any]) -> None:
        for arg, want in tests:
            got = f(arg)
            if not (type(got) is type(want) and got == want):
                raise AssertionError(f"f({arg!r}) returned {got!r}, expected {want!r}"[:300])

    return Check("f", verify)


class CodeGenTask(TaskBase):
    """Write a function from a chained specification; 2 (easy), 3 (medium), 4-5 (hard) steps."""

    name = "code_gen"
    version = "2"
    """2: the hidden tests run outside the sandbox (scoring/sandbox.py run_checked)."""
    area = "code"
    language = "en"
    levels: tuple[Difficulty, ...] = DIFFICULTIES
    kind: TaskKind = "fresh"
    answer_format: str | None = None
    description = "Write a Python function from a chain of list/string/number operations."

    def _build(self, rng: random.Random, difficulty: Difficulty) -> tuple[str, str, str]:
        chain, tests = build(rng, difficulty)
        reference = reference_source(chain)
        answer = json.dumps({"signature": signature(chain), "reference": reference,
                             "tests": tests})  # fmt: skip
        return describe(chain), answer, reference

    def instance(self, seed: int, index: int, difficulty: Difficulty = "medium") -> Instance:
        """The problem for (seed, index, difficulty); pure and deterministic."""
        rng = derive_rng(self.name, self.version, seed, index, difficulty)
        question, answer, _ = self._build(rng, difficulty)
        return Instance(self.name, self.version, seed, index, difficulty, question, answer)

    def chat_prompt(self, instance: Instance) -> str:
        """The specification plus the code-block instruction."""
        return (
            f"{instance.question}\n\nReply with the complete function in a single ```python code "
            "block. Do not include example usage or tests."
        )

    def fewshot(self, seed: int, difficulty: Difficulty, k: int) -> list[FewShotExample]:
        """k specifications with their reference solutions, from a disjoint stream."""
        examples = []
        for i in range(k):
            rng = derive_rng(self.name, self.version, FEWSHOT_SALT, seed, i, difficulty)
            question, _, reference = self._build(rng, difficulty)
            examples.append(FewShotExample(question, f"```python\n{reference}```"))
        return examples

    def reference_output(self, instance: Instance) -> str:
        """An ideal chat answer: the reference solution in a code block."""
        return f"```python\n{json.loads(instance.answer)['reference']}```"

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the extracted function passes every hidden test in the sandbox."""
        from gapbench.scoring.sandbox import run_checked

        got = extract_code(output, "f")
        if got.code is None:
            return Score(False, None, False, NONE)
        try:
            tests = json.loads(instance.answer)["tests"]
        except (ValueError, KeyError, TypeError):  # e.g. a few-shot example checked for format only
            return Score(False, got.code, True, f"{got.method}:no-reference")
        result = run_checked(got.code, hidden_tests(tests))
        return Score(result.passed, got.code, True, f"{got.method}:{result.status}")
