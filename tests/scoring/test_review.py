"""The second look at every Score: repetition loops, outputs cut at max_tokens, echoed prompts."""

from __future__ import annotations

import time

import pytest

from gapbench.backends.types import Generation, GenerationRequest, SamplingParams, Timing
from gapbench.runner import PlannedSample, score_generation
from gapbench.scoring.extract import ANSWER_LINE, BOXED, LAST_MENTION, LAST_NUMBER
from gapbench.scoring.review import (
    ECHOED_PROMPT,
    REPETITION_LOOP,
    TRUNCATED_NO_ANSWER,
    Ending,
    echoes_prompt,
    find_loop,
    review,
    score_output,
)
from gapbench.scoring.score import Score
from gapbench.store.records import SampleKey
from gapbench.tasks.registry import get_task

LOOPS = [
    # runaway repetition, cut mid-unit at max_tokens
    "1. 31 passengers = " + "155 families of 5 each = " * 12 + "15",
    # step numbers count up: list markers are masked
    "".join(f"Step {i}: Determine the total.\nOmar has 27 points.\n\n" for i in range(1, 9)),
    "".join(f"{i}. 15块饼干？\n" for i in range(1, 12)) + "12. 15块\ufffd",  # cut in a character
    "タンクには、" + "1リットルでは、" * 11 + "1リットルで",
    "R = False and Q = True\n\n" * 15,
    "PANDI-A-BEN" + "-A" * 40,
    "1. " + "1." * 40,  # no letters, but 40 repeats as written
    "".join(f"{i}. 1.5 * 940 = 1520.\n" for i in range(1, 10)),  # a numbered line, no letters
]

NOT_LOOPS = [
    "Kenji has 16 + 14 + 25 = 55 stickers.",
    "Zoe",
    "ha ha ha ha",  # repeats, but far too short to be a loop
    "The sorted list is [3, 5, 7, 1, 9, 2, 4, 8, 6, 0, 11, 12, 13, 14, 15, 16, 17, 18].",
    "1/12 - 4/11 = 2/12 - 2/11 = 2/12 - 2/11 = 2/12 - 2/11 = 2/12 - 2/11 = 1/12",  # ends in a value
    "12,442.1212121212121212121212121212121212121212121212121212121212",  # a runaway number
    (
        "First we add the stickers he wins: 16 + 14 = 30. Then the packs: 5 * 5 = 25. "
        "So Kenji has 30 + 25 = 55 stickers in total, which is the number asked for."
    ),
]


@pytest.mark.parametrize("text", LOOPS)
def test_loops_are_found(text: str) -> None:
    loop = find_loop(text)
    assert loop is not None and loop.repeats >= 3


@pytest.mark.parametrize("text", NOT_LOOPS)
def test_natural_endings_are_not_loops(text: str) -> None:
    assert find_loop(text) is None


def test_loop_unit_is_reported() -> None:
    loop = find_loop("So " + "we get 42 apples. " * 10)
    assert loop is not None and loop.unit.strip() == "we get 42 apples."
    assert 9.5 < loop.repeats < 10.5


FALLBACK = Score(False, "15", True, LAST_NUMBER)
CUT, STOPPED = Ending("length"), Ending("stop")


def test_a_generation_is_cut_when_reported_so_or_when_it_spent_every_token() -> None:
    assert Ending("length").cut and not Ending("stop").cut and not Ending("unknown").cut
    assert Ending("stop", completion_tokens=256, max_tokens=256).cut  # a server said 'stop'
    assert Ending("unknown", completion_tokens=160, max_tokens=160).cut
    assert not Ending("stop", completion_tokens=255, max_tokens=256).cut
    assert not Ending("unknown", completion_tokens=300).cut  # no cap known


def test_truncated_output_without_answer_line_has_no_answer() -> None:
    cut = "Let's start.\n1. The tank holds 125 liters.\n2. Rain adds 86, so 125 + 86 = 211.\n3"
    got = review(FALLBACK, cut, CUT)
    assert got == Score(False, None, False, TRUNCATED_NO_ANSWER)


def test_short_natural_reply_keeps_the_fallback() -> None:
    reply = "Kenji has 16 + 14 + 25 = 55 stickers."
    kept = Score(True, "55", True, LAST_NUMBER)
    assert review(kept, reply, STOPPED) == kept
    assert review(kept, reply, Ending("unknown")) == kept  # not recorded: only the shape is checked


def test_loop_is_no_answer_even_when_generation_stopped() -> None:
    looped = "R = False and Q = True\n\n" * 15
    got = review(Score(False, "True", True, LAST_MENTION), looped, STOPPED)
    assert got == Score(False, None, False, REPETITION_LOOP)


def test_a_loop_cut_at_max_tokens_is_reported_as_a_loop() -> None:
    assert review(FALLBACK, LOOPS[0], CUT).method == REPETITION_LOOP


@pytest.mark.parametrize("method", [ANSWER_LINE, BOXED, "answer-line-unreadable", "none"])
def test_explicit_readings_stand_even_when_cut_or_looping(method: str) -> None:
    score = Score(True, "42", True, method)
    assert review(score, LOOPS[0], CUT) == score


def test_answer_line_followed_by_a_loop_is_read_through_the_runner_path() -> None:
    task = get_task("arith")
    instance = task.instance(0, 0, "easy")
    output = f"Answer: {instance.answer}\n\n" + "We then have 4 families of 10 people. " * 20
    score = score_output(task, instance, output, CUT)
    assert score.correct and score.method == ANSWER_LINE


def test_echoed_prompt_sentences_are_no_answer() -> None:
    prompt = "Five runners race. Ingrid scored lower than Zoe. Who is third?"
    assert echoes_prompt("Ingrid scored lower than Zoe.", prompt)
    # cut inside a sentence, after a whole echoed one (on the same line or the line before)
    assert echoes_prompt("Think first.\nIngrid scored lower than Zoe. Who is", prompt)
    assert echoes_prompt("Ingrid scored lower than Zoe.\nFive run", prompt)
    echo = "Ingrid scored lower than Zoe."
    got = review(Score(False, "Zoe", True, LAST_MENTION), echo, STOPPED, prompt)
    assert got == Score(False, None, False, ECHOED_PROMPT)


def test_short_answers_found_in_the_prompt_are_not_echoes() -> None:
    prompt = (
        'You meet Lena, Alice and Elena. Elena says: "At least one of Alice and Lena is a knight".'
    )
    assert not echoes_prompt("Zoe", "Zoe and Ingrid race.")
    assert not echoes_prompt("Alice and Lena", prompt)  # inside a sentence, not a whole one
    assert not echoes_prompt("Lena and Elena are knights.", prompt)
    # a whole reply that merely starts like a prompt sentence (the format example of ja_era)
    assert not echoes_prompt("2020年6月18日", "「2020年6月18日」のように答えてください。")
    assert not echoes_prompt("Ingrid scored lower", "Ingrid scored lower than Zoe.")


def test_a_copy_of_the_prompts_json_schema_is_no_answer() -> None:
    prompt = (
        'Valid against:\n{"type": "object", "properties": {"a": {"type": "integer"}},\n'
        '"required": ["a"]}'
    )
    copied = '{"properties": {"a": {"type": "integer"}}, "type": "object"}'  # 'required' dropped
    own = '{"a": 3, "type": "object"}'
    assert review(Score(False, copied, True, "whole-output"), copied, STOPPED, prompt).method == (
        ECHOED_PROMPT
    )
    assert review(Score(True, own, True, "whole-output"), own, STOPPED, prompt).extraction_ok
    # after an answer label the object is the model's stated answer, even a copied one
    kept = Score(False, copied, True, ANSWER_LINE)
    assert review(kept, "Answer: " + copied, STOPPED, prompt) == kept


def _planned(task_name: str) -> PlannedSample:
    task = get_task(task_name)
    instance = task.instance(0, 1, "easy")
    sampling = SamplingParams(max_tokens=256)
    key = SampleKey("m", task.name, task.version, 0, 1, "easy", "h", 0)
    request = GenerationRequest("r", sampling, prompt="p")
    return PlannedSample(key, task, instance, request, "p", sampling)


def _generation(text: str, finish: str, tokens: int = 40) -> Generation:
    return Generation("r", text, 10, tokens, finish, Timing(0.0, 1.0))  # type: ignore[arg-type]


@pytest.mark.parametrize("task_name", ["arith", "logic", "lists", "ja_era", "zh_numbers"])
def test_runner_stores_a_truncated_fallback_as_no_answer(task_name: str) -> None:
    planned = _planned(task_name)
    output = "Let me think about this step by step.\nFirst, 12 and 7 and Alice and [1, 2]\n3"
    cut = score_generation(planned, _generation(output, "length", 256), run_id=1)
    assert (cut.extracted, cut.extraction_ok, cut.correct) == (None, False, False)
    assert cut.finish_reason == "length"
    # The same output, finished by the model, keeps its fallback reading: the finish reason is
    # what made the difference.
    assert score_generation(planned, _generation(output, "stop"), run_id=1).extraction_ok
    # Every allowed token spent counts as cut whatever the backend reported.
    spent = score_generation(planned, _generation(output, "stop", 256), run_id=1)
    assert not spent.extraction_ok


def test_runner_keeps_the_fallback_of_a_finished_short_reply() -> None:
    planned = _planned("arith")
    reply = f"The answer: {planned.instance.answer} in all."
    done = score_generation(planned, _generation(reply, "stop"), run_id=1)
    assert done.extraction_ok and done.correct


def test_review_is_linear_on_huge_outputs() -> None:
    hostile = ("1. 2, 3 = 4 x " * 8000) + "abc" * 5000
    start = time.perf_counter()
    for finish in ("stop", "length"):
        review(FALLBACK, hostile, Ending(finish), prompt=hostile[:5000])
    find_loop("a" * 100_000)
    assert time.perf_counter() - start < 0.5
