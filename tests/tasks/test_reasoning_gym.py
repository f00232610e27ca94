"""`rg:<name>` tasks: reasoning-gym datasets behind the Task protocol."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import CliInvoke

from gapbench.errors import UsageError
from gapbench.tasks.base import DIFFICULTIES, Task
from gapbench.tasks.reasoning_gym import (
    ReasoningGymTask,
    load_reasoning_gym,
    make_rg_task,
    read_answer_line,
)
from gapbench.tasks.registry import get_task

# reasoning-gym is in the dev extra: these tests run (and can fail) in `make test`.

SCORED_BY_OWN_ANSWER = (
    "basic_arithmetic",
    "chain_sum",
    "leg_counting",
    "word_sorting",
    "letter_counting",  # corpus-backed
)


def test_rg_task_satisfies_protocol_and_metadata() -> None:
    task = get_task("rg:chain_sum")
    assert isinstance(task, Task)
    assert task.name == "rg:chain_sum"
    assert task.area == "reasoning-gym" and task.language == "en"
    assert re.fullmatch(r"rg\d+\.\d+\.\d+-1", task.version)
    assert task.levels == DIFFICULTIES  # chain_sum has a curriculum


def test_kind_follows_bundled_data() -> None:
    # word_sorting and letter_counting read word lists shipped in reasoning_gym/data; acre loads
    # its objects through a sibling helper module; chain_sum is purely procedural.
    assert get_task("rg:word_sorting").kind == "fixed"
    assert get_task("rg:letter_counting").kind == "fixed"
    assert get_task("rg:acre").kind == "fixed"
    assert get_task("rg:chain_sum").kind == "fresh"
    assert get_task("rg:basic_arithmetic").kind == "fresh"


def test_dataset_without_curriculum_has_one_level() -> None:
    assert get_task("rg:gsm_symbolic").levels == ("medium",)


def test_instances_are_deterministic_and_seeded() -> None:
    a, b = ReasoningGymTask("chain_sum"), ReasoningGymTask("chain_sum")
    # Access order must not matter: b visits a large index (a bigger size bucket) first.
    b.instance(1, 500, "medium")
    for index in (0, 3, 70):
        assert a.instance(1, index, "medium") == b.instance(1, index, "medium")
    questions = {a.instance(seed, 0, "medium").question for seed in range(8)}
    assert len(questions) > 4
    assert a.instance(1, 0, "easy").question != a.instance(1, 0, "hard").question


def test_chain_sum_answer_matches_independent_evaluation() -> None:
    task = get_task("rg:chain_sum")
    for difficulty in DIFFICULTIES:
        for index in range(5):
            inst = task.instance(2, index, difficulty)
            expression = inst.question.split(":")[-1].split("=")[0]
            assert re.fullmatch(r"[\d\s+\-]+", expression), inst.question
            assert int(inst.answer) == eval(expression)  # only digits, spaces, + and -


def test_hard_is_harder_than_easy() -> None:
    task = get_task("rg:chain_sum")

    def terms(difficulty: str) -> float:
        qs = [task.instance(0, i, difficulty).question for i in range(20)]  # type: ignore[arg-type]
        return sum(len(re.findall(r"\d+", q)) for q in qs) / len(qs)

    assert terms("hard") > terms("easy")


@pytest.mark.parametrize("dataset", SCORED_BY_OWN_ANSWER)
def test_own_answer_scores_correct(dataset: str) -> None:
    task = get_task(f"rg:{dataset}")
    for difficulty in task.levels:
        for index in range(3):
            inst = task.instance(5, index, difficulty)
            score = task.score(inst, f"Let me think.\nAnswer: {inst.answer}")
            assert score.correct and score.extraction_ok, (difficulty, index, score)
            assert score.method == "rg-score=1"


def test_wrong_answer_is_incorrect() -> None:
    task = get_task("rg:chain_sum")
    inst = task.instance(0, 0, "medium")
    score = task.score(inst, f"Answer: {int(inst.answer) + 1}")
    assert score.extraction_ok and not score.correct
    assert score.extracted == str(int(inst.answer) + 1)


def test_partial_credit_is_recorded_but_not_correct() -> None:
    # The default reasoning-gym scorer gives len(reference)/len(answer) when the answer contains it.
    task = get_task("rg:spell_backward")
    inst = task.instance(0, 0, "easy")
    score = task.score(inst, f"Answer: {inst.answer} x")
    assert not score.correct and score.extraction_ok
    value = float(score.method.removeprefix("rg-score="))
    assert 0.0 < value < 1.0


def test_last_answer_line_counts_and_think_is_ignored() -> None:
    task = get_task("rg:chain_sum")
    inst = task.instance(0, 1, "medium")
    wrong = int(inst.answer) + 7
    assert task.score(inst, f"Answer: {wrong}\nOn reflection,\nAnswer: {inst.answer}").correct
    hidden = task.score(inst, f"<think>Answer: {inst.answer}</think>\nAnswer: {wrong}")
    assert not hidden.correct
    assert read_answer_line("**Answer:** 12") == "12"
    assert read_answer_line("Answer:\n1 2\n3 4") == "1 2\n3 4"


def test_no_answer_is_extraction_failure() -> None:
    task = get_task("rg:chain_sum")
    inst = task.instance(0, 0, "medium")
    for output in ("I am not sure.", f"<think>Answer: {inst.answer}</think>", "Answer:   "):
        score = task.score(inst, output)
        assert not score.extraction_ok and not score.correct and score.extracted is None


def test_prompt_and_fewshot() -> None:
    task = get_task("rg:chain_sum")
    inst = task.instance(0, 0, "medium")
    prompt = task.chat_prompt(inst)
    assert prompt.startswith(inst.question) and "Answer: <answer>" in prompt
    shots = task.fewshot(0, "medium", 3)
    assert len(shots) == 3 and all(s.solution.startswith("Answer: ") for s in shots)
    evaluated = {task.instance(0, i, "medium").question for i in range(50)}
    assert not {s.question for s in shots} & evaluated
    assert shots == task.fewshot(0, "medium", 3)


def test_unknown_rg_name_suggests_close_ones() -> None:
    with pytest.raises(UsageError, match=r"Did you mean:.*chain_sum"):
        get_task("rg:chain_sun")


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # makes `import` raise ImportError
    with pytest.raises(UsageError, match=r"gapbench\[rg\]"):
        load_reasoning_gym()
    make_rg_task.cache_clear()
    try:
        with pytest.raises(UsageError, match=r"gapbench\[rg\]"):
            get_task("rg:not_cached_yet")
    finally:
        make_rg_task.cache_clear()


def test_cli_run_with_scripted_model(cli: CliInvoke, db: Path) -> None:
    result = cli(
        "run", "--model", "scripted:x?accuracy=1", "--task", "rg:chain_sum", "--n", "3",
        "--db", str(db),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "rg:chain_sum" in result.output
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT task, correct FROM samples").fetchall()
    assert rows == [("rg:chain_sum", 1)] * 3


def test_tasks_list_does_not_import_reasoning_gym() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from gapbench.cli.main import main\n"
        "result = CliRunner().invoke(main, ['tasks', 'list'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('imported' if 'reasoning_gym' in sys.modules else 'clean')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"
