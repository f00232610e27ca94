"""Inline <think> reasoning is split out in one place (the runner), whichever backend made it."""

from __future__ import annotations

from gapbench.backends.types import Generation, Timing
from gapbench.runner import split_reasoning


def _generation(text: str, reasoning: str | None = None) -> Generation:
    return Generation(
        request_id="r",
        text=text,
        prompt_tokens=1,
        completion_tokens=1,
        finish_reason="stop",
        timing=Timing(start=0.0, end=1.0),
        reasoning=reasoning,
    )


def test_text_without_a_think_tag_is_kept_byte_for_byte() -> None:
    plain = _generation("  Answer: 4\n\n")
    assert split_reasoning(plain) is plain


def test_inline_reasoning_moves_out_of_the_text() -> None:
    split = split_reasoning(_generation("<think>2 plus 2\n</think>\nAnswer: 4"))
    assert (split.text, split.reasoning) == ("Answer: 4", "2 plus 2")


def test_inline_reasoning_follows_reasoning_the_engine_gave_apart() -> None:
    split = split_reasoning(_generation("<think>then check</think>Answer: 4", "first add"))
    assert (split.text, split.reasoning) == ("Answer: 4", "first add\nthen check")


def test_an_unclosed_block_is_all_reasoning() -> None:
    split = split_reasoning(_generation("<think>still thinking when the tokens ran out"))
    assert (split.text, split.reasoning) == ("", "still thinking when the tokens ran out")
