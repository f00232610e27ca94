"""code_gen: determinism, variety, answers checked independently, and scoring in the sandbox."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gapbench.scoring.sandbox import Job, run_jobs
from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance, Task
from gapbench.tasks.code import (
    OPS_BY_NAME,
    CodeGenTask,
    Step,
    _random_chain,
    apply_chain,
    describe,
    hidden_tests,
    reference_source,
)

TASK = CodeGenTask()


def _compiled(source: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    return namespace["f"]


def check_answer(inst: Instance) -> None:
    """The independent answer check the task-library tests run on every fresh family."""
    answer = json.loads(inst.answer)
    f = _compiled(answer["reference"])
    for arg, want in answer["tests"]:
        assert f(arg) == want, (answer["reference"], arg)


def test_it_is_a_task_with_levels_and_kind() -> None:
    assert isinstance(TASK, Task)
    assert (TASK.area, TASK.language, TASK.kind) == ("code", "en", "fresh")
    assert TASK.levels == DIFFICULTIES


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_instances_are_deterministic_and_seeds_differ(difficulty: Difficulty) -> None:
    assert TASK.instance(7, 3, difficulty) == TASK.instance(7, 3, difficulty)
    assert TASK.instance(7, 3, difficulty) != TASK.instance(8, 3, difficulty)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_at_least_1000_distinct_instances_per_level(difficulty: Difficulty) -> None:
    instances = [TASK.instance(0, i, difficulty) for i in range(3000)]
    assert len({(x.question, x.answer) for x in instances[:1000]}) == 1000
    assert len({x.question for x in instances}) >= 1000


def test_the_number_of_steps_grows_with_difficulty() -> None:
    def steps(difficulty: Difficulty) -> set[int]:
        return {TASK.instance(1, i, difficulty).question.count("\n") - 1 for i in range(200)}

    assert steps("easy") == {2}
    assert steps("medium") == {3}
    assert steps("hard") == {4, 5}


def test_every_operation_is_reachable() -> None:
    used = {step.op for i in range(3000) for step in _random_chain(random.Random(i), 5)}
    assert used == set(OPS_BY_NAME)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_hidden_tests_agree_with_the_reference_source(difficulty: Difficulty) -> None:
    """Expected outputs come from the callables; the reference source from the code snippets."""
    for i in range(300):
        answer = json.loads(TASK.instance(3, i, difficulty).answer)
        f = _compiled(answer["reference"])
        for arg, want in answer["tests"]:
            assert f(arg) == want, (answer["reference"], arg)
        assert len({json.dumps(want) for _, want in answer["tests"]}) >= 3


def test_a_hand_computed_chain() -> None:
    chain = [Step("keep_even", 0), Step("square", 0), Step("sum", 0)]
    assert apply_chain(chain, [1, 2, 3, 4, -6]) == 4 + 16 + 36
    assert _compiled(reference_source(chain))([1, 2, 3, 4, -6]) == 56
    text = describe(chain)
    assert "`def f(xs: list[int]) -> int`" in text
    assert "1. Keep only the even elements.\n2. Replace each element by its square." in text
    words = [Step("word_lengths", 0), Step("max", 0)]
    assert apply_chain(words, "a bcd ef") == 3


def _chains(draw: st.DrawFn) -> list[Step]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    return _random_chain(rng, draw(st.integers(1, 5)))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_callables_and_snippets_agree_on_any_input(data: st.DataObject) -> None:
    chain = _chains(data.draw)
    takes = OPS_BY_NAME[chain[0].op].takes
    if takes == "str":
        arg: Any = data.draw(st.text(alphabet="abcAEIoU xyz-", max_size=20))
    else:
        arg = data.draw(st.lists(st.integers(-100, 100), max_size=12))
    assert _compiled(reference_source(chain))(arg) == apply_chain(chain, arg)


def test_fewshot_examples_are_solved_and_disjoint() -> None:
    examples = TASK.fewshot(0, "medium", 3)
    assert len(examples) == 3
    evaluated = {TASK.instance(0, i, "medium").question for i in range(50)}
    for ex in examples:
        assert ex.question not in evaluated
        assert ex.solution.startswith("```python\ndef f(") and ex.solution.endswith("```")


def test_chat_prompt_asks_for_a_python_block() -> None:
    prompt = TASK.chat_prompt(TASK.instance(0, 0, "easy"))
    assert "```python" in prompt and "`def f(" in prompt


def test_reference_solutions_pass_in_the_sandbox() -> None:
    instances = [TASK.instance(4, i, d) for d in DIFFICULTIES for i in range(8)]
    jobs = [
        Job(json.loads(x.answer)["reference"], hidden_tests(json.loads(x.answer)["tests"]))
        for x in instances
    ]
    results = run_jobs(jobs)
    assert all(r.passed for r in results), [r.reason for r in results if not r.passed]


def test_a_candidate_cannot_pass_by_rebinding_type_or_faking_equality() -> None:
    """The hidden tests compare here, outside the sandbox: inside, `type` and `__eq__` are the
    program's to rebind, and a marker on stdout or exit code 0 means nothing."""
    instance = next(
        x
        for x in (TASK.instance(5, i, "medium") for i in range(100))
        if all(type(want) is int for _, want in json.loads(x.answer)["tests"])
    )
    answer = json.loads(instance.answer)
    reference = answer["reference"].replace("def f(", "def _right(")
    cheats = {
        # The right numbers as floats, with `type` rebound so a check inside would see int.
        "rebound type": f"import builtins\n{reference}builtins.type = lambda x: int\n"
        "def f(v):\n    return float(_right(v))\n",
        "equal to anything": "class Anything:\n    def __eq__(self, other):\n"
        "        return True\ndef f(v):\n    return Anything()\n",
        "marker and exit 0": "import os\ndef f(v):\n    print('ALL-TESTS-PASSED')\n"
        "    os._exit(0)\n",
        "forged replies": "import os\ndef f(v):\n    for fd in range(3, 64):\n        try:\n"
        "            os.write(fd, b'{\"value\": 0}\\n')\n        except OSError:\n"
        "            pass\n    return None\n",
    }
    results = run_jobs([Job(cheat, hidden_tests(answer["tests"])) for cheat in cheats.values()])
    assert [r.passed for r in results] == [False] * len(cheats), [r.reason for r in results]
    honest = run_jobs([Job(answer["reference"], hidden_tests(answer["tests"]))])
    assert honest[0].passed, honest[0].reason


def test_score_accepts_the_reference_and_rejects_wrong_code() -> None:
    instance = TASK.instance(5, 1, "medium")
    reference = json.loads(instance.answer)["reference"]
    right = TASK.score(instance, f"Here you go:\n```python\n{reference}```\nDone.")
    assert (right.correct, right.extraction_ok, right.method) == (True, True, "fenced:passed")
    wrong = TASK.score(instance, "```python\ndef f(xs):\n    return None\n```")
    assert (wrong.correct, wrong.extraction_ok, wrong.method) == (False, True, "fenced:failed")
    missing = TASK.score(instance, "I would loop over the list.")
    assert (missing.correct, missing.extraction_ok) == (False, False)


def test_a_candidate_that_exits_early_does_not_pass() -> None:
    instance = TASK.instance(5, 2, "easy")
    reference = json.loads(instance.answer)["reference"]
    score = TASK.score(instance, f"```python\nimport os\n{reference}os._exit(0)\n```")
    assert not score.correct
    guarded = f"```python\nimport sys\n{reference}if __name__ == '__main__':\n    sys.exit(1)\n```"
    assert TASK.score(instance, guarded).correct


def test_reference_output_scores_correct_and_a_missing_reference_only_extracts() -> None:
    instance = TASK.instance(6, 0, "hard")
    assert TASK.score(instance, TASK.reference_output(instance)).correct
    example = TASK.fewshot(6, "hard", 1)[0]
    blank = type(instance)("code_gen", "1", 0, 0, "hard", example.question, "")
    checked = TASK.score(blank, example.solution)
    assert (checked.correct, checked.extraction_ok, checked.method) == (
        False,
        True,
        "fenced:no-reference",
    )
