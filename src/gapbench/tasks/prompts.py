"""How instances become requests: chat messages for instruct models, few-shot text for base models,
and the request id that names an instance so that any process can rebuild it."""

from __future__ import annotations

from gapbench.backends.types import ChatMessage
from gapbench.tasks.base import DIFFICULTIES, Difficulty, Instance, Task

REASONING = "reasoning"
ANSWER_LINE = "answer-line"
PROMPT_STYLES: tuple[str, ...] = (REASONING, ANSWER_LINE)
"""How instruct models are asked. 'reasoning': reason step by step and put the final answer in
\\boxed{}, the prompt DeepSeek (DeepSeekMath, R1) and Qwen (Qwen2.5-Math) publish their math
results with; 'answer-line': the family's own instruction, ending in a line 'Answer: X'. Families
whose answer is not one short value (code, free text, JSON: `answer_format` None) keep their own
instruction in both styles."""
DEFAULT_PROMPT_STYLE = REASONING
MAX_PROMPT_VARIANTS = 5

_REASONING: dict[str, tuple[str, ...]] = {
    "en": (
        # Verbatim from the DeepSeekMath and Qwen2.5-Math READMEs; DeepSeek-R1's model card asks
        # for the same directive in the user turn (no system prompt).
        "Please reason step by step, and put your final answer within \\boxed{}.",
        "Think the problem through one step at a time, then write your final answer inside "
        "\\boxed{}.",
        "Show your reasoning step by step and give the final answer as \\boxed{answer}.",
        "Work it out carefully, step by step. Put the final answer in \\boxed{} at the end.",
        "Explain how you get the answer, step by step, and finish with the final answer in "
        "\\boxed{}.",
    ),
    "zh": (
        # DeepSeekMath's Chinese prompt, verbatim.
        "请通过逐步推理来解答问题，并把最终答案放置于\\boxed{}中。",
        "请一步一步地思考这个问题，最后把答案写在\\boxed{}里。",
        "请写出推理过程，并将最终答案用\\boxed{}括起来。",
        "请逐步分析并解答，最终答案放在\\boxed{}中。",
        "请先逐步说明解题思路，最后以\\boxed{答案}的形式给出最终答案。",
    ),
    "ja": (
        "段階的に推論して解き、最終的な答えを\\boxed{}の中に書いてください。",
        "一歩ずつ考えてから、最終的な答えを\\boxed{}に入れて書いてください。",
        "考え方を順に示し、最後に答えを\\boxed{答え}の形で書いてください。",
        "順を追って丁寧に解き、最終的な答えを\\boxed{}で囲んでください。",
        "解き方を一段階ずつ説明し、最後に最終的な答えを\\boxed{}の中に示してください。",
    ),
}
"""Variant 0 is the makers' own wording; 1-4 say the same in other words, for --prompt-variants."""
_FORMAT_HINT = {"en": " Your final answer should be {}.", "zh": "最终答案应为{}。",
                "ja": "最終的な答えは{}にしてください。"}  # fmt: skip
_LABEL = {"en": "Problem:", "zh": "题目：", "ja": "問題："}
_LAYOUTS: tuple[str, ...] = (
    "{question}\n{instruction}",  # DeepSeekMath's own layout, for the reasoning style's first
    "{instruction}\n\n{question}",
    "{label}\n{question}\n\n{instruction}",
    "{question}{space}{instruction}",
    "{question}\n\n---\n\n{instruction}",
)
"""Where the instruction goes, around the same question: the formatting choices that Sclar et al.
(2023, "Quantifying Language Models' Sensitivity to Spurious Features in Prompt Design") found to
move accuracy by tens of points. Variant k uses layout k (and in the reasoning style wording k)."""


def _parts(task: Task, instance: Instance) -> tuple[str, str] | None:
    """(question, instruction) of the task's own chat prompt, or None when it is not the question
    followed by an instruction (HumanEval puts the instruction first): then it has one phrasing."""
    text = task.chat_prompt(instance)
    if not text.startswith(instance.question):
        return None
    return instance.question, text[len(instance.question) :].strip()


def prompt_variants(task: Task) -> int:
    """How many distinct phrasings --prompt-variants can give this task."""
    probe = task.instance(0, 0, task.levels[0])
    return MAX_PROMPT_VARIANTS if _parts(task, probe) is not None else 1


def effective_style(task: Task, style: str) -> str:
    """The style a task is really asked in: one whose answer is not a short value (code, free text)
    has its own instruction only, so every style is the answer-line one for it, and its samples
    are shared (and resumed) whatever style a run names."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; choose from {', '.join(PROMPT_STYLES)}")
    return ANSWER_LINE if task.answer_format is None else style


def chat_text(task: Task, instance: Instance, style: str = ANSWER_LINE, variant: int = 0) -> str:
    """The user message for an instruct model in `style`, phrasing `variant`."""
    style = effective_style(task, style)
    parts = _parts(task, instance)
    if parts is None:
        if variant:
            raise ValueError(f"{task.name} has one phrasing only, not variant {variant}")
        return task.chat_prompt(instance)
    if style == ANSWER_LINE and variant == 0:
        return task.chat_prompt(instance)  # exactly as it always was, so stored samples resume
    question, instruction = parts
    language = task.language if task.language in _REASONING else "en"
    if style == REASONING:
        instruction = _REASONING[language][variant]
        if task.answer_format:
            instruction += _FORMAT_HINT[language].format(task.answer_format)
    return _LAYOUTS[variant].format(
        question=question,
        instruction=instruction,
        label=_LABEL[language],
        space="" if language in ("zh", "ja") else " ",
    )


def style_key(task: Task, style: str, variant: int = 0) -> str:
    """The prompt style as the settings hash and the samples table name it. The answer-line
    style's first phrasing keeps the name 'chat' it had before styles existed, so databases
    written then resume instead of regenerating."""
    style = effective_style(task, style)
    if style == ANSWER_LINE and variant == 0:
        return "chat"
    return f"chat-{style}" + (f"-v{variant}" if variant else "")


def chat_messages(
    task: Task, instance: Instance, style: str = ANSWER_LINE, variant: int = 0
) -> tuple[ChatMessage, ...]:
    """One user message: the question and the instruction in the given style and phrasing."""
    return (ChatMessage(role="user", content=chat_text(task, instance, style, variant)),)


def completion_prompt(task: Task, instance: Instance, k: int = 3) -> str:
    """The text a base model continues for `instance`, with k worked examples: the task's own
    format (TaskBase: k examples from the few-shot stream, then the question and an open
    'Solution:'; HumanEval: the raw function prompt)."""
    return task.completion_prompt(instance, k)


def completion_stop(task: Task) -> tuple[str, ...]:
    """Stop strings that end a base model's completion after one answer: the task's own
    (TaskBase: the question-and-solution format's)."""
    return task.completion_stop


def request_id(instance: Instance, draw: int = 0, variant: int = 0) -> str:
    """'task|version|seed|index|difficulty', plus '|draw' for draws after the first, plus
    '|draw|vK' for phrasing K of --prompt-variants: names the sample within a run (several
    phrasings of one instance are several requests); parse_request_id and parse_request_draw
    invert it.

    Draw 0 of the first phrasing keeps the 5-field form, so a single-draw request is named exactly
    as before draws existed (the scripted backend's answers, which hash the id, stay the same)."""
    base = (
        f"{instance.task}|{instance.task_version}|{instance.seed}|{instance.index}|"
        f"{instance.difficulty}"
    )
    if variant:
        return f"{base}|{draw}|v{variant}"
    return base if draw == 0 else f"{base}|{draw}"


def _split_request_id(text: str) -> list[str]:
    parts = text.split("|")
    if len(parts) == 7:
        variant = parts.pop()
        if not (variant.startswith("v") and variant[1:].isdigit() and int(variant[1:]) > 0):
            raise ValueError(f"request id {text!r} has invalid phrasing {variant!r}")
        if parts[5] == "0":
            parts.pop()  # draw 0 of a later phrasing: the 5-field form plus the phrasing
    if len(parts) not in (5, 6):
        raise ValueError(f"request id {text!r} does not have 5, 6 or 7 '|'-separated fields")
    return parts


def parse_request_id(text: str) -> tuple[str, str, int, int, Difficulty]:
    """(task, version, seed, index, difficulty) from a request id, whatever its draw; ValueError
    when malformed."""
    task, version, seed, index, difficulty = _split_request_id(text)[:5]
    parse_request_draw(text)  # a malformed draw makes the whole id malformed
    for level in DIFFICULTIES:
        if difficulty == level:
            return task, version, int(seed), int(index), level
    raise ValueError(f"request id {text!r} has unknown difficulty {difficulty!r}")


def parse_request_draw(text: str) -> int:
    """The draw a request id names (0 for the 5-field form); ValueError when malformed."""
    parts = _split_request_id(text)
    if len(parts) == 5:
        return 0
    draw = int(parts[5])
    # '|0' would give draw 0 a second name, and a negative draw names nothing.
    if draw < 1 or parts[5] != str(draw):
        raise ValueError(f"request id {text!r} has invalid draw {parts[5]!r}")
    return draw
