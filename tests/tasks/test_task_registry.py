"""The task registry, suites, prompts and request ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gapbench.errors import UsageError
from gapbench.tasks.base import (
    COMPLETION_STOP,
    DIFFICULTIES,
    Difficulty,
    Instance,
    Task,
    TaskBase,
)
from gapbench.tasks.prompts import (
    chat_messages,
    completion_prompt,
    parse_request_draw,
    parse_request_id,
    request_id,
)
from gapbench.tasks.registry import TASKS, get_task, list_tasks
from gapbench.tasks.suites import SUITES, get_suite, resolve_tasks


def test_registry_holds_the_three_families() -> None:
    assert set(TASKS) >= {"arith", "logic", "zh_arith"}
    for name, task in TASKS.items():
        assert isinstance(task, Task)
        assert task.name == name and task.version and task.description
        assert task.area in ("math", "logic", "cjk", "instruct", "code")
        assert task.language in ("en", "zh", "ja")
    assert [t.name for t in list_tasks()] == list(TASKS)


def test_unknown_task_suggests_close_names() -> None:
    with pytest.raises(UsageError, match="Did you mean: arith"):
        get_task("arit")
    with pytest.raises(UsageError, match="Known tasks"):
        get_task("zzzz")


def test_suites_resolve_to_registered_tasks() -> None:
    assert [t.name for t in get_suite("quick")] == list(SUITES["quick"])
    assert [t.name for t in resolve_tasks(None, None)] == list(SUITES["quick"])
    assert [t.name for t in resolve_tasks(None, "quick")] == list(SUITES["quick"])
    assert [t.name for t in resolve_tasks("logic", None)] == ["logic"]
    assert [t.name for t in resolve_tasks("logic, arith,logic", None)] == ["logic", "arith"]
    # Several suites (a repeated --suite): their tasks in order, the shared `logic` once.
    assert [t.name for t in resolve_tasks(None, "quick,logic")] == [
        "arith", "logic", "zh_arith", "knights", "boolean", "lists"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("task", "suite", "message"),
    [
        (None, "quik", "Did you mean: quick"),
        ("arith,nope", None, "Unknown task 'nope'"),
        ("arith", "quick", "not both"),
        (" , ", None, "empty"),
        (None, ",", "--suite is empty"),
        (None, "math,quik", "Unknown suite 'quik'"),
    ],
)
def test_bad_task_or_suite_is_a_usage_error(
    task: str | None, suite: str | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_tasks(task, suite)


@given(
    st.sampled_from(sorted(TASKS)),
    st.integers(-(2**63), 2**63),
    st.integers(0, 2**31),
    st.sampled_from(DIFFICULTIES),
)
def test_request_id_round_trips(name: str, seed: int, index: int, difficulty: Difficulty) -> None:
    inst = Instance(name, "1", seed, index, difficulty, "q", "a")
    assert request_id(inst) == f"{name}|1|{seed}|{index}|{difficulty}"
    assert parse_request_id(request_id(inst)) == (name, "1", seed, index, difficulty)


@given(
    st.sampled_from(sorted(TASKS)),
    st.integers(0, 2**31),
    st.integers(0, 2**31),
    st.sampled_from(DIFFICULTIES),
    st.integers(0, 10_000),
)
def test_request_id_names_the_draw(
    name: str, seed: int, index: int, difficulty: Difficulty, draw: int
) -> None:
    inst = Instance(name, "1", seed, index, difficulty, "q", "a")
    rid = request_id(inst, draw)
    # Draw 0 keeps the single-draw name; later draws add a sixth field.
    assert rid == (request_id(inst) if draw == 0 else f"{request_id(inst)}|{draw}")
    assert parse_request_id(rid) == (name, "1", seed, index, difficulty)
    assert parse_request_draw(rid) == draw


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "arith|1|0|0",
        "arith|1|x|0|easy",
        "arith|1|0|0|extreme",
        "arith|1|0|0|easy|",
        "arith|1|0|0|easy|0",
        "arith|1|0|0|easy|-1",
        "arith|1|0|0|easy|x",
        "arith|1|0|0|easy|1|2",
    ],
)
def test_malformed_request_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_request_id(bad)
    if bad.count("|") != 4:  # the draw field itself (or the field count) is what is wrong
        with pytest.raises(ValueError):
            parse_request_draw(bad)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_chat_messages_are_one_user_turn(name: str) -> None:
    task = get_task(name)
    inst = task.instance(0, 0, "easy")
    (message,) = chat_messages(task, inst)
    assert message.role == "user" and message.content == task.chat_prompt(inst)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_completion_prompt_has_k_worked_examples_then_the_question(name: str) -> None:
    task = get_task(name)
    inst = task.instance(4, 2, "medium")
    prompt = completion_prompt(task, inst, k=3)
    if type(task).completion_prompt is not TaskBase.completion_prompt:
        # A task with its own base-model format (HumanEval continues a function) is used as is.
        assert prompt == task.completion_prompt(inst, 3) and inst.question in prompt
        return
    question_label, solution_label = {
        "zh": ("问题：", "解答："),
        "ja": ("問題：", "解答："),
    }.get(task.language, ("Question: ", "Solution:"))
    assert prompt.count(question_label) == 4
    assert prompt.endswith(f"{question_label}{inst.question}\n{solution_label}")
    for example in task.fewshot(4, "medium", 3):
        assert example.question in prompt and example.solution in prompt
        # Each worked example ends with a line the task's own scorer reads back.
        solved = Instance(name, task.version, 0, 0, "medium", example.question, "")
        assert task.score(solved, example.solution).extraction_ok
    # A base model that continues past its answer into a new question is stopped there.
    continuation = f" 1 + 1 = 2. Answer: 2\n\n{question_label}"
    assert any(stop in continuation for stop in COMPLETION_STOP)
    assert not any(stop in inst.question for stop in COMPLETION_STOP)
    assert completion_prompt(task, inst, k=0).startswith(question_label + inst.question)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_scores_its_own_reference_as_correct(name: str) -> None:
    task = get_task(name)
    for difficulty in DIFFICULTIES:
        for index in range(20):
            inst = task.instance(9, index, difficulty)
            reference_output = task.reference_output(inst)
            if reference_output is not None:  # code tasks: the reference is a program
                assert task.score(inst, reference_output).correct
            else:
                reply = task.chat_prompt(inst) + f"\nAnswer: {inst.answer}"
                assert task.score(inst, reply).correct
