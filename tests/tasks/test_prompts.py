"""Prompt styles and phrasings: the makers' reasoning prompt, the legacy answer line, variants."""

from __future__ import annotations

import pytest

from gapbench.tasks.prompts import (
    ANSWER_LINE,
    MAX_PROMPT_VARIANTS,
    PROMPT_STYLES,
    REASONING,
    chat_messages,
    chat_text,
    prompt_variants,
    style_key,
)
from gapbench.tasks.registry import get_task, list_tasks

TASKS = list_tasks()
NAMES = [t.name for t in TASKS]


@pytest.mark.parametrize("name", NAMES)
def test_the_answer_line_style_is_the_task_prompt_as_it_always_was(name: str) -> None:
    task = get_task(name)
    instance = task.instance(3, 1, task.levels[0])
    assert chat_text(task, instance, ANSWER_LINE) == task.chat_prompt(instance)
    (message,) = chat_messages(task, instance, ANSWER_LINE)
    assert message.content == task.chat_prompt(instance)
    assert style_key(task, ANSWER_LINE) == "chat"  # the name stored samples were written under


def test_the_reasoning_style_is_the_makers_prompt_word_for_word() -> None:
    arith = get_task("arith")
    instance = arith.instance(0, 0, "easy")
    assert chat_text(arith, instance, REASONING) == (
        f"{instance.question}\nPlease reason step by step, and put your final answer within "
        "\\boxed{}."
    )
    zh = get_task("zh_arith")
    zh_instance = zh.instance(0, 0, "easy")
    assert chat_text(zh, zh_instance, REASONING) == (
        f"{zh_instance.question}\n请通过逐步推理来解答问题，并把最终答案放置于\\boxed{{}}中。"
    )


def test_an_answer_that_is_not_a_number_is_described() -> None:
    knights = get_task("knights")
    text = chat_text(knights, knights.instance(0, 0, "easy"), REASONING)
    assert "\\boxed{}" in text and "separated by commas, or none" in text


@pytest.mark.parametrize("name", ["if_words", "if_json", "code_gen", "humaneval"])
def test_tasks_without_a_short_answer_keep_their_own_instruction(name: str) -> None:
    task = get_task(name)
    instance = task.instance(0, 0, task.levels[0])
    assert task.answer_format is None
    assert chat_text(task, instance, REASONING) == task.chat_prompt(instance)
    assert style_key(task, REASONING, 2) == style_key(task, ANSWER_LINE, 2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("style", PROMPT_STYLES)
def test_variants_are_distinct_phrasings_of_the_same_question(name: str, style: str) -> None:
    task = get_task(name)
    instance = task.instance(5, 2, task.levels[-1])
    count = prompt_variants(task)
    texts = [chat_text(task, instance, style, v) for v in range(count)]
    assert all(instance.question in text for text in texts)
    assert len(set(texts)) == count
    assert len({style_key(task, style, v) for v in range(count)}) == count
    if count < MAX_PROMPT_VARIANTS:
        with pytest.raises(ValueError, match="one phrasing"):
            chat_text(task, instance, style, count)


def test_only_humaneval_has_a_single_phrasing() -> None:
    single = sorted(t.name for t in TASKS if prompt_variants(t) == 1)
    assert single == ["humaneval"]


@pytest.mark.parametrize("name", [t.name for t in TASKS if t.answer_format is not None])
def test_a_boxed_reference_answer_scores_correct(name: str) -> None:
    """What the reasoning style asks for is what the scorer reads."""
    task = get_task(name)
    for index in range(5):
        instance = task.instance(11, index, task.levels[0])
        reply = f"Let me work through it.\nSo the result follows.\n\\boxed{{{instance.answer}}}"
        score = task.score(instance, reply)
        assert score.correct, (instance.answer, score)
        assert score.method == "boxed"


def test_an_unknown_style_is_refused() -> None:
    task = get_task("arith")
    with pytest.raises(ValueError, match="unknown prompt style"):
        chat_text(task, task.instance(0, 0), "telepathy")


def test_the_cli_bound_is_the_number_of_phrasings() -> None:
    from gapbench.cli import run_cmds

    # Kept apart so that `gapbench --help` does not import the task modules.
    assert run_cmds.MAX_PROMPT_VARIANTS == MAX_PROMPT_VARIANTS
