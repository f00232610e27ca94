"""The gap between the best model of each origin: the bootstrap checked against numpy on the same
resampled counts, its coverage of the true gap by simulation, and the rows, notes and timeline."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
from tests.stats.test_ranking import simulate
from tests.stats.test_summary import sample

from gapbench.stats.gap import ModelOrigin, best_gap, origin_gaps
from gapbench.stats.ranking import bootstrap_correct_counts
from gapbench.stats.summary import OVERALL


def numpy_best_gap(
    columns: dict[str, list[bool]], first: list[str], second: list[str], n_resamples: int, seed: int
) -> tuple[float, list[float], list[float], float, float]:
    """Independently of gap.py: maxima and percentiles by numpy, on the resampled counts of
    ranking.bootstrap_correct_counts (whose distribution tests/stats/test_ranking.py checks
    against numpy's index bootstrap)."""
    models = [*first, *second]
    counts = np.array(bootstrap_correct_counts([columns[m] for m in models], n_resamples, seed))
    n = len(columns[models[0]])
    a, b = counts[:, : len(first)], counts[:, len(first) :]
    diffs = (a.max(axis=1) - b.max(axis=1)) / n
    totals_a = np.array([sum(columns[m]) for m in first])
    totals_b = np.array([sum(columns[m]) for m in second])
    best_a, best_b = int(np.argmax(totals_a)), int(np.argmax(totals_b))
    kept_a = float(np.mean(a[:, best_a] == a.max(axis=1)))
    kept_b = float(np.mean(b[:, best_b] == b.max(axis=1)))
    point = (totals_a.max() - totals_b.max()) / n
    ci90 = list(np.percentile(diffs, [5, 95]))
    ci95 = list(np.percentile(diffs, [2.5, 97.5]))
    return point, ci90, ci95, kept_a, kept_b


@pytest.mark.parametrize("seed", [0, 1])
def test_best_gap_matches_numpy(seed: int) -> None:
    rng = random.Random(seed)
    accuracies = {"cn1": 0.62, "cn2": 0.6, "cn3": 0.5, "us1": 0.64, "us2": 0.58}
    columns = simulate(rng, accuracies, 70)
    first, second = ["cn1", "cn2", "cn3"], ["us1", "us2"]
    diff, best_a, best_b, ci90, ci95 = best_gap(columns, first, second, 500, seed)
    point, np90, np95, share_a, share_b = numpy_best_gap(columns, first, second, 500, seed)
    assert diff == pytest.approx(point, abs=1e-12)
    assert list(ci90) == pytest.approx(np90, abs=1e-12)
    assert list(ci95) == pytest.approx(np95, abs=1e-12)
    assert (best_a.share, best_b.share) == (share_a, share_b)
    assert best_a.model == first[int(np.argmax([sum(columns[m]) for m in first]))]
    assert best_a.accuracy - best_b.accuracy == pytest.approx(diff)
    # The selection is uncertain here, or this test would not show it is re-done per resample.
    assert 0 < share_a < 1


def test_a_resample_picks_its_own_best_model() -> None:
    # cn_a is right on the first 30 instances, cn_b on the last 30: whichever half a resample
    # draws more of, that model is its best, so the gap's spread exceeds either model's own.
    n = 60
    columns = {
        "cn_a": [i < 30 for i in range(n)],
        "cn_b": [i >= 30 for i in range(n)],
        "us": [i % 2 == 0 for i in range(n)],
    }
    diff, best_a, _, _, ci95 = best_gap(columns, ["cn_a", "cn_b"], ["us"], 2000, 3)
    assert diff == 0.0 and best_a.model == "cn_a"
    assert 0.35 < best_a.share < 0.65
    # With cn_a held fixed the interval is centred on 0; re-selecting lifts it, since every
    # resample's best CN model has at least half of the instances right.
    _, _, _, _, fixed = best_gap(columns, ["cn_a"], ["us"], 2000, 3)
    assert abs(fixed[0] + fixed[1]) < 0.02
    assert ci95[0] + ci95[1] > 0.05
    assert ci95[0] > fixed[0] + 0.05


def test_rows_per_task_overall_and_timeline() -> None:
    rng = random.Random(7)
    origins = {
        "cn_old": ModelOrigin("CN", dt.date(2024, 9, 1)),
        "cn_new": ModelOrigin("CN", dt.date(2025, 1, 20)),
        "us": ModelOrigin("US", dt.date(2024, 7, 23)),
        "us_undated": ModelOrigin("US", None),
        "fr": ModelOrigin("FR", dt.date(2024, 1, 1)),
    }
    accuracy = {"cn_old": 0.3, "cn_new": 0.8, "us": 0.6, "us_undated": 0.5, "fr": 0.9}
    samples = []
    for model, p in accuracy.items():
        for task in ("arith", "logic"):
            if task == "logic" and model.startswith("cn"):
                continue  # no CN model answered logic
            samples += [sample(i, rng.random() < p, model=model, task=task) for i in range(50)]
    report = origin_gaps(samples, origins, margin=0.05, n_resamples=300)

    arith, logic = report.tasks
    assert (arith.task, logic.task) == ("arith", "logic")
    assert arith.best["CN"].model == "cn_new" and arith.diff is not None
    assert arith.compared == {"CN": ("cn_new", "cn_old"), "US": ("us", "us_undated")}
    assert logic.diff is None and logic.note == "no CN model with results here"
    # Overall pools the instances every CN and US model answered: arith only.
    assert report.overall.task == OVERALL
    assert report.overall.n_shared == 50
    assert report.overall.diff == arith.diff
    # The timeline steps through the compared models' release dates (not fr's, nor undated).
    assert [row.as_of for row in report.timeline] == [
        dt.date(2024, 7, 23),
        dt.date(2024, 9, 1),
        dt.date(2025, 1, 20),
    ]
    first, second, third = report.timeline
    assert first.diff is None and first.note == "no CN model released by 2024-07-23"
    assert second.compared == {"CN": ("cn_old",), "US": ("us",)}
    assert second.best["CN"].model == "cn_old"
    assert third.best["CN"].model == "cn_new" and third.compared["US"] == ("us",)
    assert report.left_out == ["fr"] and report.undated == ["us_undated"]
    assert third.kind in {"ahead", "behind", "equivalent", "inconclusive"}
    payload = report.as_dict()
    assert payload["timeline"][0]["as_of"] == "2024-07-23"  # type: ignore[index]
    assert payload["overall"]["best"]["CN"]["model"] == "cn_new"  # type: ignore[index]


def test_no_shared_instance_is_a_note_not_a_number() -> None:
    origins = {"cn": ModelOrigin("CN"), "us": ModelOrigin("US")}
    samples = [sample(i, True, model="cn") for i in range(5)]
    samples += [sample(i, False, model="us") for i in range(5, 10)]
    report = origin_gaps(samples, origins, margin=0.05, n_resamples=100)
    assert report.overall.diff is None and report.overall.n_shared == 0
    assert report.overall.note == "no instance answered by every compared model"
    assert report.timeline == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ([0.7, 0.6], [0.62, 0.55]),  # a clear CN leader; the US leader less clear
        ([0.55], [0.65]),  # one model each: the plain paired bootstrap
    ],
)
def test_interval_covers_the_true_gap_at_about_the_stated_level(
    first: list[float], second: list[float]
) -> None:
    # The true gap is between the best of each origin by true accuracy, whichever model the
    # data happen to favour. 200 datasets of 100 instances: a 95% interval should cover it in
    # about 190 (binomial sd about 3), a 90% one in about 180 (sd about 4).
    rng = random.Random(20)
    accuracies = {f"cn{i}": p for i, p in enumerate(first)}
    accuracies |= {f"us{i}": p for i, p in enumerate(second)}
    a = [m for m in accuracies if m.startswith("cn")]
    b = [m for m in accuracies if m.startswith("us")]
    true_gap = max(first) - max(second)
    covered90 = covered95 = 0
    for _ in range(200):
        columns = simulate(rng, accuracies, 100)
        _, _, _, ci90, ci95 = best_gap(columns, a, b, 400, rng.randrange(10**6))
        covered90 += ci90[0] <= true_gap <= ci90[1]
        covered95 += ci95[0] <= true_gap <= ci95[1]
    assert 180 <= covered95 <= 199
    assert 165 <= covered90 <= 193


def test_best_gap_of_patterns_is_best_gap_of_the_columns() -> None:
    from gapbench.stats.gap import best_gap_of_patterns
    from gapbench.stats.ranking import fold_patterns

    rng = random.Random(8)
    accuracy = {"cn_a": 0.6, "cn_b": 0.62, "us": 0.58}
    columns = {m: [rng.random() < p for _ in range(200)] for m, p in accuracy.items()}
    first, second = ["cn_a", "cn_b"], ["us"]
    patterns = fold_patterns([columns[m] for m in [*first, *second]])
    assert best_gap_of_patterns(patterns, first, second, 300, 6) == best_gap(
        columns, first, second, 300, 6
    )
