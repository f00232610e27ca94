"""Generating one model's planned samples: claim a chunk, generate it, store each sample as it
comes back, and keep the claims alive while doing so (store/leases.py says why claims exist).

Samples are stored by a writer thread with a connection of its own (`SampleWriter`): a sample
is handed to it the moment it is scored and written at once when the writer is idle, so at the
rate of a real model (seconds per sample) each is still stored on its own, while samples that
arrive faster than one transaction takes are written together, all those that came in while the
previous write was running in one transaction (group commit). Killing the process loses what
was in flight, as before: the requests being generated and the samples queued for the writer.

Samples another run holds are left to it and checked again once this run's own chunks are done:
stored by then, they are counted as done elsewhere; still held by a live run, this run waits for
them; held by a run whose process died, they are taken over (at once on the same machine, after
the lease expires elsewhere). Every sample is thus generated once among the runs that survive,
and each run's wall time counts only the time it spent generating, never the time it waited.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import islice
from types import TracebackType
from typing import TYPE_CHECKING

from gapbench.store.leases import LEASE_SECONDS, RENEW_SECONDS
from gapbench.store.records import RunMeasures, RunStatus, SampleKey, SampleRecord

if TYPE_CHECKING:
    from gapbench.backends.base import Backend
    from gapbench.runner import ModelPlan, PlannedSample, ProgressListener, RunOutcome
    from gapbench.store.repository import Store

WAIT_SECONDS = 0.5
"""How often a run that waits for another run's samples looks again: a cheap read and a short
write, against samples that take seconds each."""


def chunk_size(parallelism: int) -> int:
    """Samples claimed and handed to the backend at once, to begin with. A sequential backend gets
    a few, so that concurrent runs interleave finely; a batching one (batch size or API
    concurrency above 1) 32 batches' worth, so that the batch it drains at the end of every chunk
    costs about 1.5% of its throughput (half a batch idle for one request's time, per 32). Chunks
    that take less than FAST_CHUNK_SECONDS double (`next_chunk_size`)."""
    return 8 if parallelism <= 1 else 32 * parallelism


FAST_CHUNK_SECONDS = 0.5
"""A chunk generated faster than this is followed by one twice its size, up to MAX_CHUNK: a claim
costs a few round trips to the database (milliseconds on PostgreSQL), which a backend answering
in microseconds (scripted, a cached endpoint) would otherwise pay every 8 samples, while a chunk of
half a second's work still interleaves concurrent runs finely."""
MAX_CHUNK = 4096

MEASURES_EVERY_SECONDS = 2.0
"""The run's measures are written after a chunk at most this often (and always when it ends): a
killed run keeps measures at most this old, without one write per chunk of a fast backend."""


def next_chunk_size(size: int, seconds: float) -> int:
    """The size of the chunk after one of `size` samples that took `seconds`."""
    return min(MAX_CHUNK, size * 2) if seconds < FAST_CHUNK_SECONDS else size


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


class SampleWriter:
    """Stores a run's samples from a thread of its own (the module docstring says why).

    `put` hands a sample over (and blocks while `QUEUE_LIMIT` samples wait, so that a store
    slower than the backend holds the backend back rather than filling memory); leaving the
    context writes every sample handed over, then raises what went wrong in the writer, if
    anything did. A failed write fails the run at the next `put`: the samples of that write and
    those queued behind it are not stored, as a failed `add_sample` stored nothing."""

    BATCH_LIMIT = 256
    """Samples written in one transaction at most: a few milliseconds of work on either database,
    so a reader or another runner never waits long for the lock."""
    QUEUE_LIMIT = 4096

    def __init__(self, location: str, busy_timeout: float) -> None:
        """`location`: the store's (a file path, or a PostgreSQL URL without password)."""
        self._location, self._busy_timeout = location, busy_timeout
        self._queue: queue.Queue[SampleRecord | None] = queue.Queue(maxsize=self.QUEUE_LIMIT)
        self._opened = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="sample-writer", daemon=True)
        self.written = 0
        """Samples the writer stored (not counting those a successful stored sample kept out)."""

    def __enter__(self) -> SampleWriter:
        self._thread.start()
        self._opened.wait()
        self._raise_failure()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc is None:
            self._raise_failure()

    def put(self, record: SampleRecord) -> None:
        self._raise_failure()
        if not record.created_at:  # the time it was generated, not the time it was written
            record = replace(record, created_at=time.time())
        self._queue.put(record)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _write(self) -> None:
        from gapbench.store.repository import Store

        try:
            # A connection of its own: SQLite connections belong to the thread that made them,
            # and a PostgreSQL session runs one statement at a time.
            store = Store.open(self._location, busy_timeout=self._busy_timeout)
        except BaseException as exc:
            self._failure = exc  # raised by __enter__, so nothing is ever handed over
            self._opened.set()
            return
        self._opened.set()
        with store:
            while (batch := self._next_batch()) is not None:
                try:
                    self.written += store.add_samples(batch)
                except BaseException as exc:
                    self._failure = exc
                    self._discard_until_closed()
                    return

    def _next_batch(self) -> list[SampleRecord] | None:
        """The samples waiting now (at least one, waiting for it), or None once closed."""
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.BATCH_LIMIT:
            try:
                record = self._queue.get_nowait()
            except queue.Empty:
                break
            if record is None:  # closed: write what came before, then stop
                self._queue.put(None)
                break
            batch.append(record)
        return batch

    def _discard_until_closed(self) -> None:
        """After a failure: take what is handed over (so that `put` never blocks) until closed."""
        while self._queue.get() is not None:
            pass


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
    writer: SampleWriter
    deferred: dict[SampleKey, PlannedSample] = field(default_factory=dict)
    measures_recorded_at: float = -math.inf
    """time.monotonic() of the last record_measures (the first chunk's are always written)."""


def generate_plan(job: Job) -> RunStatus:
    """Generate and store every planned sample that no other run stores first; returns the run's
    final status: 'completed' when every sample was answered, else 'failed'."""
    from gapbench.runner import planned_samples

    size = chunk_size(job.backend.info().batch_size)
    todo = iter(planned_samples(job.plan))
    while chunk := list(islice(todo, size)):
        began = time.monotonic()
        _claim_and_generate(job, chunk)
        size = next_chunk_size(size, time.monotonic() - began)
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
            job.writer.put(record)
            if record.error is None:
                job.outcome.completed += 1
            else:
                job.outcome.failed += 1
            job.listener.sample_done(record)
    finally:
        job.tally.generation_seconds += covered_seconds(spans)
    # A backend yielding fewer generations than requests is a bug: the run is not 'completed'.
    job.tally.missing += len(by_id)
    if time.monotonic() - job.measures_recorded_at >= MEASURES_EVERY_SECONDS:
        job.store.record_measures(job.run_id, job.tally.measures(peak_rss_mb()))
        job.measures_recorded_at = time.monotonic()


def covered_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """Length of the union of [start, end] intervals: overlapping requests count once."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total
