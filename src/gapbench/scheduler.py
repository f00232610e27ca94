"""Generating one model's planned samples: claim a chunk, generate it, store each sample as it
comes back, and keep the claims alive while doing so (store/leases.py says why claims exist).

Samples another run holds are left to it and checked again once this run's own chunks are done:
stored by then, they are counted as done elsewhere; still held by a live run, this run waits for
them; held by a run whose process died, they are taken over (at once on the same machine, after
the lease expires elsewhere). Every sample is thus generated once among the runs that survive,
and each run's wall time counts only the time it spent generating, never the time it waited.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from types import TracebackType
from typing import TYPE_CHECKING

from gapbench.store.leases import LEASE_SECONDS, RENEW_SECONDS
from gapbench.store.records import RunMeasures, RunStatus, SampleKey

if TYPE_CHECKING:
    from gapbench.backends.base import Backend
    from gapbench.runner import ModelPlan, PlannedSample, ProgressListener, RunOutcome
    from gapbench.store.repository import Store

WAIT_SECONDS = 0.5
"""How often a run that waits for another run's samples looks again: a cheap read and a short
write, against samples that take seconds each."""


def chunk_size(parallelism: int) -> int:
    """Samples claimed and handed to the backend at once. A sequential backend gets a few, so that
    concurrent runs interleave finely; a batching one (batch size or API concurrency above 1)
    32 batches' worth, so that the batch it drains at the end of every chunk costs about 1.5% of
    its throughput (half a batch idle for one request's time, per 32)."""
    return 8 if parallelism <= 1 else 32 * parallelism


@dataclass
class Tally:
    """What a run measures about itself while it generates."""

    generation_seconds: float = 0.0
    """Wall time during which at least one of the run's requests was being generated: the union
    of their [start, end] intervals. A sample's own time, with the overlap of batched or
    concurrent requests counted once; never the time spent scoring and storing between samples,
    claiming, or waiting for other runs (for the lock, or for samples they hold)."""
    latency_seconds: float = 0.0
    generations: int = 0
    missing: int = 0
    """Requests the backend never answered (a backend bug): the run cannot be 'completed'."""

    def measures(self, peak_rss_mb: float | None) -> RunMeasures:
        return RunMeasures(
            self.generation_seconds,
            peak_rss_mb,
            latency_seconds=self.latency_seconds,
            generations=self.generations,
        )


class Heartbeat:
    """Renews a run's lease and claims from a thread of its own, so a generation that takes
    minutes (a long prompt on a CPU, a slow API) never lets them lapse. Stopped, and joined, before
    the run is finished, so that no renewal can follow the run's final status."""

    def __init__(self, db: str, run_id: int, busy_timeout: float) -> None:
        """`db`: the store's `location` (a file path, or a PostgreSQL URL without password)."""
        self._db, self._run_id, self._busy_timeout = db, run_id, busy_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        from gapbench.errors import GapbenchError
        from gapbench.store.repository import Store

        # A connection of its own: SQLite connections belong to the thread that made them, and
        # a PostgreSQL session runs one statement at a time.
        try:
            store = Store.open(self._db, busy_timeout=self._busy_timeout)
        except GapbenchError:
            return  # the main thread's own writes will report what is wrong with the file
        with store:
            while not self._stop.wait(RENEW_SECONDS):
                try:
                    store.renew_lease(self._run_id, time.time(), LEASE_SECONDS)
                except GapbenchError:
                    continue  # locked for a moment: the lease has three more renewals to spare


@dataclass
class Job:
    """One model's run in progress: what to generate, where to, and what to count."""

    plan: ModelPlan
    store: Store
    backend: Backend
    run_id: int
    listener: ProgressListener
    outcome: RunOutcome
    tally: Tally
    deferred: dict[SampleKey, PlannedSample] = field(default_factory=dict)


def generate_plan(job: Job) -> RunStatus:
    """Generate and store every planned sample that no other run stores first; returns the run's
    final status: 'completed' when every sample was answered, else 'failed'."""
    from gapbench.runner import planned_samples

    size = chunk_size(job.backend.info().batch_size)
    for chunk in _chunks(planned_samples(job.plan), size):
        _claim_and_generate(job, chunk)
    while job.deferred:
        job.store.reap_dead_runs(time.time())
        if not _claim_and_generate(job, list(job.deferred.values())) and job.deferred:
            job.listener.waiting(len(job.deferred))
            time.sleep(WAIT_SECONDS)
    return "completed" if not (job.outcome.failed or job.tally.missing) else "failed"


def _claim_and_generate(job: Job, chunk: list[PlannedSample]) -> bool:
    """Claim `chunk`, generate what this run got, defer what another holds; False when nothing
    was generated or found done."""
    claim = job.store.claim(job.run_id, [p.key for p in chunk], time.time(), LEASE_SECONDS)
    mine = {*claim.claimed}
    held = {*claim.held}
    for planned in chunk:
        job.deferred.pop(planned.key, None)
        if planned.key in held:
            job.deferred[planned.key] = planned
    if claim.done:
        job.outcome.elsewhere += len(claim.done)
        job.listener.samples_elsewhere(len(claim.done))
    todo = [p for p in chunk if p.key in mine]
    if todo:
        _generate(job, todo)
    return bool(todo or claim.done)


def _generate(job: Job, todo: list[PlannedSample]) -> None:
    from gapbench.backends.hardware import peak_rss_mb
    from gapbench.runner import score_generation

    by_id = {p.request.request_id: p for p in todo}
    spans: list[tuple[float, float]] = []
    try:
        for generation in job.backend.generate([p.request for p in todo]):
            record = score_generation(by_id.pop(generation.request_id), generation, job.run_id)
            spans.append(
                (generation.timing.start, max(generation.timing.end, generation.timing.start))
            )
            job.tally.latency_seconds += record.latency_s
            job.tally.generations += 1
            job.store.add_sample(record)
            if record.error is None:
                job.outcome.completed += 1
            else:
                job.outcome.failed += 1
            job.listener.sample_done(record)
    finally:
        job.tally.generation_seconds += covered_seconds(spans)
    # A backend yielding fewer generations than requests is a bug: the run is not 'completed'.
    job.tally.missing += len(by_id)
    job.store.record_measures(job.run_id, job.tally.measures(peak_rss_mb()))


def covered_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """Length of the union of [start, end] intervals: overlapping requests count once."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def _chunks(items: Iterable[PlannedSample], size: int) -> Iterator[list[PlannedSample]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
