"""The scripted backend: deterministic, with the accuracy and no-answer rates it is asked for."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from types import ModuleType

import pytest

from gapbench.backends.base import Backend
from gapbench.backends.scripted import ScriptedBackend, ScriptedBehaviour, wrong_answer
from gapbench.backends.types import ChatMessage, Generation, GenerationRequest, SamplingParams
from gapbench.errors import UsageError
from gapbench.scoring.score import Score
from gapbench.tasks.base import Difficulty, Instance, Task, TaskBase

NAMES = ["Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah"]


@dataclass
class _StubTask(TaskBase):
    """A task whose answers the test can recompute without any gapbench code."""

    name: str
    version: str = "1"

    def instance(self, seed: int, index: int, difficulty: Difficulty = "medium") -> Instance:
        if self.name == "sum":
            a, b = seed + index, 3 * index + 1
            question, answer = f"What is {a} + {b}?", str(a + b)
        elif self.name == "half":
            question = f"What is {index} / 2?"
            answer = f"{index // 2}.5" if index % 2 else str(index // 2)
        else:  # "middle": a name answer taken from the question
            trio = [NAMES[(index + k) % len(NAMES)] for k in range(3)]
            question = f"{trio[0]}, {trio[1]} and {trio[2]} sit in a row. Who is in the middle?"
            answer = trio[1]
        return Instance(self.name, "1", seed, index, difficulty, question, answer)


def _stub_parse_request_id(request_id: str) -> tuple[str, str, int, int, str]:
    task, version, seed, index, difficulty = request_id.split("/")
    if task not in ("sum", "half", "middle"):
        raise KeyError(f"unknown task {task!r}")
    return task, version, int(seed), int(index), difficulty


@pytest.fixture
def real_tasks() -> None:
    """Requested by tests that use the real task families instead of the stubs."""


@pytest.fixture(autouse=True)
def stub_tasks(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[None]:
    """Stand-ins for tasks.prompts / tasks.registry, so these tests pin down the backend alone."""
    if "real_tasks" in request.fixturenames:
        yield
        return
    prompts = ModuleType("gapbench.tasks.prompts")
    prompts.parse_request_id = _stub_parse_request_id  # type: ignore[attr-defined]
    registry = ModuleType("gapbench.tasks.registry")
    registry.get_task = _StubTask  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gapbench.tasks.prompts", prompts)
    monkeypatch.setitem(sys.modules, "gapbench.tasks.registry", registry)
    yield


def request(request_id: str, max_tokens: int = 256) -> GenerationRequest:
    return GenerationRequest(
        request_id=request_id,
        sampling=SamplingParams(max_tokens=max_tokens),
        messages=(ChatMessage("user", "What is the answer?"),),
    )


def backend(ref: str) -> ScriptedBackend:
    return ScriptedBackend(ScriptedBehaviour.parse(ref))


def answer_of(text: str) -> str | None:
    m = re.search(r"Answer:\s*(\S+)\s*$", text)
    return m.group(1) if m else None


def generate(b: ScriptedBackend, ids: list[str]) -> list[Generation]:
    return list(b.generate([request(i) for i in ids]))


def ids(task: str, n: int, seed: int = 7) -> list[str]:
    return [f"{task}/1/{seed}/{i}/medium" for i in range(n)]


def verdicts(gens: list[Generation]) -> list[str]:
    """'ok' / 'none' / 'wrong' per generation, judged against a recomputed reference."""
    out = []
    for g in gens:
        task, _, seed, index, _ = g.request_id.split("/")
        reference = _StubTask(task).instance(int(seed), int(index)).answer
        got = answer_of(g.text)
        out.append("none" if got is None else "ok" if got == reference else "wrong")
    return out


def test_is_a_backend_with_info() -> None:
    import gapbench

    b = backend("scripted:alice")
    assert isinstance(b, Backend)
    info = b.info()
    assert info.backend == "scripted"
    assert info.engine_version == f"scripted {gapbench.__version__}"


def test_deterministic_across_instances() -> None:
    some = ids("sum", 50) + ids("middle", 50)
    first = generate(backend("scripted:alice?accuracy=0.6&noanswer=0.2"), some)
    second = generate(backend("scripted:alice?accuracy=0.6&noanswer=0.2"), list(reversed(some)))
    assert {g.request_id: g.text for g in first} == {g.request_id: g.text for g in second}


@pytest.mark.parametrize(("accuracy", "noanswer"), [(0.7, 0.1), (0.3, 0.0), (0.9, 0.05)])
def test_rates_close_to_requested(accuracy: float, noanswer: float) -> None:
    n = 500
    gens = generate(backend(f"scripted:bob?accuracy={accuracy}&noanswer={noanswer}"), ids("sum", n))
    v = verdicts(gens)
    # 4 binomial standard deviations: fails by chance about once in 15,000 runs (and never,
    # since the hash is fixed, unless the code changes).
    for label, p in (("ok", accuracy), ("none", noanswer)):
        sd = (p * (1 - p) / n) ** 0.5
        assert abs(v.count(label) / n - p) <= 4 * sd + 1e-9, label
    assert v.count("wrong") + v.count("ok") + v.count("none") == n


def test_names_give_different_patterns_with_same_accuracy() -> None:
    some = ids("sum", 300)
    a = verdicts(generate(backend("scripted:alice?accuracy=0.7"), some))
    b = verdicts(generate(backend("scripted:bob?accuracy=0.7"), some))
    assert a != b
    disagree = sum(x != y for x, y in zip(a, b, strict=True)) / len(some)
    assert 0.25 < disagree < 0.60  # independent 70% models disagree on 42% of items


def test_extreme_accuracies() -> None:
    some = ids("sum", 100) + ids("middle", 100) + ids("half", 100)
    assert set(verdicts(generate(backend("scripted:x?accuracy=1"), some))) == {"ok"}
    assert set(verdicts(generate(backend("scripted:x?accuracy=0"), some))) == {"wrong"}
    assert set(verdicts(generate(backend("scripted:x?accuracy=0&noanswer=1"), some))) == {"none"}


def test_wrong_numeric_answers_are_off_by_one_to_nine() -> None:
    gens = generate(backend("scripted:x?accuracy=0"), ids("sum", 200))
    offsets = set()
    for g in gens:
        _, _, seed, index, _ = g.request_id.split("/")
        reference = int(_StubTask("sum").instance(int(seed), int(index)).answer)
        got = answer_of(g.text)
        assert got is not None
        offsets.add(int(got) - reference)
    assert offsets <= set(range(1, 10)) and len(offsets) > 3


def test_wrong_name_answers_are_other_names_from_the_question() -> None:
    for g in generate(backend("scripted:x?accuracy=0"), ids("middle", 60)):
        _, _, seed, index, _ = g.request_id.split("/")
        inst = _StubTask("middle").instance(int(seed), int(index))
        got = answer_of(g.text)
        assert got is not None and got != inst.answer
        assert got in NAMES and got in inst.question


@pytest.mark.parametrize(
    ("reference", "question"),
    [("42", ""), ("-3", ""), ("2.5", ""), ("3/4", ""), ("1,200", ""), ("yes", ""), ("No", "")],
)
def test_wrong_answer_differs_in_value(reference: str, question: str) -> None:
    for key in (0.0, 0.5, 0.999):
        wrong = wrong_answer(reference, question, key)
        assert wrong.strip().lower() != reference.strip().lower()
        if reference[0].isdigit() or reference[0] == "-":
            value = Fraction(wrong)
            assert value != Fraction(reference.replace(",", ""))


def test_bad_request_id_yields_error_generation_and_goes_on() -> None:
    gens = generate(backend("scripted:x"), ["garbage", "nosuchtask/1/0/0/easy", "sum/1/0/0/easy"])
    assert [g.finish_reason for g in gens[:2]] == ["error", "error"]
    assert all(g.error and g.text == "" for g in gens[:2])
    assert gens[2].finish_reason == "stop" and gens[2].error is None


def test_tokens_timing_and_max_tokens() -> None:
    b = backend("scripted:x?accuracy=1&delay=0.05")
    [g] = list(b.generate([request("sum/1/0/3/easy")]))
    assert g.prompt_tokens == 4  # "What is the answer?"
    assert g.completion_tokens == len(g.text.split())
    assert g.timing.latency_s >= 0.05
    assert g.timing.ttft_s is not None and 0 <= g.timing.ttft_s <= g.timing.latency_s
    [cut] = list(b.generate([request("sum/1/0/3/easy", max_tokens=3)]))
    assert cut.finish_reason == "length" and cut.completion_tokens == 3


def test_delay_is_per_request() -> None:
    b = backend("scripted:x?delay=0.02")
    t = time.perf_counter()
    generate(b, ids("sum", 5))
    assert time.perf_counter() - t >= 0.1


@pytest.mark.parametrize(
    "ref",
    [
        "scripted:",
        "scripted:x?accuracy=1.5",
        "scripted:x?accuracy=0.8&noanswer=0.3",
        "scripted:x?delay=-1",
        "scripted:x?accuracy=high",
        "scripted:x?speed=3",
    ],
)
def test_bad_refs_are_usage_errors(ref: str) -> None:
    with pytest.raises(UsageError):
        ScriptedBehaviour.parse(ref)


def test_kind_option_is_left_to_the_catalog() -> None:
    assert ScriptedBehaviour.parse("scripted:x?kind=base&accuracy=0.2").accuracy == 0.2


def test_version_mismatch_is_an_error() -> None:
    [g] = generate(backend("scripted:x"), ["sum/2/0/0/easy"])
    assert g.finish_reason == "error" and g.error is not None and "version" in g.error


# --- with the real task families: their own scorers judge the outputs -------------------------


def _real_requests(per_level: int = 40) -> list[tuple[Task, Instance, GenerationRequest]]:
    from gapbench.tasks.prompts import chat_messages, request_id
    from gapbench.tasks.registry import list_tasks

    out: list[tuple[Task, Instance, GenerationRequest]] = []
    for task in list_tasks():
        # Code answers are scored by running them in the sandbox: a few per level are enough.
        count = 3 if task.area == "code" else per_level
        for level in task.levels:
            for index in range(count):
                inst = task.instance(11, index, level)
                req = GenerationRequest(
                    request_id=request_id(inst),
                    sampling=SamplingParams(),
                    messages=chat_messages(task, inst),
                )
                out.append((task, inst, req))
    return out


def _scores(ref: str) -> list[Score]:
    items = _real_requests()
    b = backend(ref)
    gens = {g.request_id: g for g in b.generate([req for _, _, req in items])}
    return [task.score(inst, gens[req.request_id].text) for task, inst, req in items]


def test_real_tasks_correct_answers_score_correct(real_tasks: None) -> None:
    scores = _scores("scripted:x?accuracy=1")
    assert all(s.correct for s in scores)


def test_real_tasks_wrong_answers_score_wrong_but_extracted(real_tasks: None) -> None:
    scores = _scores("scripted:x?accuracy=0")
    assert not any(s.correct for s in scores)
    assert all(s.extraction_ok for s in scores)


def test_real_tasks_no_answer_is_an_extraction_failure(real_tasks: None) -> None:

    scores = _scores("scripted:x?accuracy=0&noanswer=1")
    assert not any(s.correct for s in scores)
    # HumanEval reads prose as a base model's continuation of the function (it runs and fails),
    # so "no answer" is an extraction failure everywhere except there.
    items = _real_requests()
    readable = [
        s for (task, _, _), s in zip(items, scores, strict=True) if task.name != "humaneval"
    ]
    assert readable and not any(s.extraction_ok for s in readable)


def test_real_tasks_accuracy_close_to_requested(real_tasks: None) -> None:
    scores = _scores("scripted:carol?accuracy=0.6&noanswer=0.1")
    n = len(scores)
    correct = sum(s.correct for s in scores) / n
    missing = sum(not s.extraction_ok for s in scores) / n
    assert abs(correct - 0.6) <= 4 * (0.6 * 0.4 / n) ** 0.5
    assert abs(missing - 0.1) <= 4 * (0.1 * 0.9 / n) ** 0.5


def test_real_tasks_draws_of_one_instance_roll_independently(real_tasks: None) -> None:
    """The roll hashes the whole request id, and later draws' ids carry the draw: so draws of one
    instance are right or wrong independently, at the requested rate, and draw 0 is answered
    exactly as a single-draw request always was."""
    from gapbench.tasks.prompts import request_id
    from gapbench.tasks.registry import get_task

    task = get_task("arith")
    b = backend("scripted:dice?accuracy=0.5")
    draws = 4
    right: list[list[bool]] = []
    for index in range(150):
        inst = task.instance(3, index, "easy")
        outputs = [b.answer(request_id(inst, d)) for d in range(draws)]
        assert outputs[0] == b.answer(request_id(inst))
        assert outputs == [b.answer(request_id(inst, d)) for d in range(draws)]  # deterministic
        right.append([task.score(inst, text).correct for text in outputs])
    flat = [r for row in right for r in row]
    assert abs(sum(flat) / len(flat) - 0.5) <= 4 * (0.25 / len(flat)) ** 0.5
    # Identical draws would agree every time; independent fair rolls agree half the time.
    agree = sum(row[0] == row[d] for row in right for d in range(1, draws)) / (150 * (draws - 1))
    assert abs(agree - 0.5) <= 4 * (0.25 / (150 * (draws - 1))) ** 0.5
