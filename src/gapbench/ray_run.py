"""`gapbench run --ray [ADDRESS]`: one run spread over a Ray cluster.

The plan is split into work units (model x task x block of instances). Each model gets Ray actors
(ModelWorker), each holding the model loaded once, with what its backend needs on a node
(BackendEntry.resources: llama.cpp's CPU threads, a GPU for transformers where the cluster has
one, next to nothing for an HTTP endpoint); idle actors take the next unit. A worker runs its unit
with the ordinary runner against the shared store, the same --db (a PostgreSQL URL across
machines; a SQLite file only when every node is this machine), so resuming, claims and
provenance are those of a local run, and samples go straight from the worker to the database.

A worker that dies is restarted by Ray and its unit retried: what it had stored stays stored, the
samples in flight are generated again (the next process to open the store finds the dead run and
frees its claims). The driver draws one progress bar over all workers from a counter actor.
Without --ray nothing imports Ray.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from gapbench.errors import BackendError, UsageError

if TYPE_CHECKING:
    from gapbench.backends.registry import BackendOptions
    from gapbench.catalog.types import ModelSpec
    from gapbench.runner import ProgressListener, RunConfig, RunOutcome
    from gapbench.store.records import SampleRecord

UNIT_INSTANCES = 50
"""Instances per work unit: small enough that a dead worker costs little and the last units
spread over every worker, large enough that a unit's run row and its model call batch amortise."""

MAX_RESTARTS = 3
"""How often Ray restarts a dead worker (and retries its unit) before the run gives up."""

PROGRESS_FLUSH_S = 0.25


@dataclass(frozen=True)
class WorkUnit:
    """Instances first..last-1 of one task for one model."""

    model_index: int
    task: str
    first: int
    last: int


def work_units(config: RunConfig, size: int = UNIT_INSTANCES) -> list[WorkUnit]:
    """The plan's units, model by model, task by task, in instance order."""
    units = []
    for m in range(len(config.models)):
        for task in config.tasks:
            for first in range(config.first_index, config.n, size):
                units.append(WorkUnit(m, task.name, first, min(first + size, config.n)))
    return units


class _Counter:
    """The driver's view of progress: samples stored by every worker so far."""

    def __init__(self) -> None:
        self.done = 0

    def add(self, samples: int) -> None:
        self.done += samples

    def read(self) -> int:
        return self.done


class _ReportingListener:
    """A worker's runner listener: counts samples and sends them to the counter in batches."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter
        self.samples = 0
        self.flushed = time.monotonic()

    def flush(self) -> None:
        if self.samples:
            self.counter.add.remote(self.samples)
            self.samples = 0
        self.flushed = time.monotonic()

    def model_started(self, model_id: str, todo: int) -> None:
        pass

    def sample_done(self, record: SampleRecord) -> None:
        self.samples += 1
        if time.monotonic() - self.flushed > PROGRESS_FLUSH_S:
            self.flush()

    def samples_elsewhere(self, count: int) -> None:
        pass

    def waiting(self, held: int) -> None:
        pass

    def model_finished(self, outcome: RunOutcome) -> None:
        self.flush()


class ModelWorker:
    """A Ray actor: one model loaded once, running the units it is given."""

    def __init__(self, spec: ModelSpec, db: str, options: BackendOptions, config: RunConfig):
        from gapbench.backends.registry import model_loader

        self.spec, self.db, self.config = spec, db, config
        backend, path = model_loader(options)(spec)
        self.loaded = (_Kept(backend), path)

    def run(self, unit: WorkUnit, counter: Any) -> dict[str, Any]:
        from gapbench.runner import run_evaluation
        from gapbench.store.repository import open_store
        from gapbench.tasks.registry import get_task

        config = replace(
            self.config,
            models=[self.spec],
            tasks=[get_task(unit.task)],
            first_index=unit.first,
            n=unit.last,
        )
        listener = _ReportingListener(counter)
        with open_store(self.db) as store:
            [outcome] = run_evaluation(config, store, lambda _spec: self.loaded, listener)
        listener.flush()
        return {
            "planned": outcome.planned,
            "skipped": outcome.skipped,
            "completed": outcome.completed,
            "failed": outcome.failed,
            "elsewhere": outcome.elsewhere,
            "scope": sorted(outcome.scope),
            "run_id": outcome.run_id,
        }


class _Kept:
    """The worker's backend, handed to each unit's run: a unit's end must not unload it."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def info(self) -> Any:
        return self._backend.info()

    def generate(self, requests: Sequence[Any]) -> Iterator[Any]:
        return self._backend.generate(requests)  # type: ignore[no-any-return]

    def close(self) -> None:
        pass  # the actor's own end closes it


def connect(address: str | None) -> None:
    """Join the cluster at `address` ('auto', 'HOST:PORT' or 'ray://HOST:PORT'); with None, start
    a one-machine cluster for this run."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'gapbench[ray]'.") from None
    import logging

    kwargs: dict[str, Any] = {
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "configure_logging": True,
    }
    if address is None:
        kwargs.update(include_dashboard=False)
    elif address != "auto":
        _check_listening(address)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        where = address or "a local cluster"
        raise BackendError(
            f"Cannot reach the Ray cluster at {where} ({_first_line(exc)}): start one with "
            "`ray start --head`, or pass its address as --ray HOST:PORT."
        ) from None


def _check_listening(address: str) -> None:
    """Ray retries a dead address for minutes: refuse one where nothing listens at once."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise UsageError(
            f"--ray {address}: give the cluster's address as HOST:PORT (e.g. 127.0.0.1:6379) "
            "or ray://HOST:10001."
        )
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise BackendError(
            f"Nothing answers at --ray {address} ({exc.strerror or exc}): start the cluster with "
            "`ray start --head` there, or pass the address `ray status` shows."
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_store_reachable(db: str) -> None:
    """A SQLite file is one machine's: refuse it when the cluster spans machines. A password
    typed into a PostgreSQL URL lives in this process only (store/location.py), out of the
    workers' reach: they need it from PGPASSWORD or ~/.pgpass on their node."""
    import ray
    from gapbench.store.location import is_postgres_url, password_for

    if is_postgres_url(db):
        if password_for(db) is not None:
            raise UsageError(
                "--ray with a password in --db: the workers cannot be handed it safely; drop it "
                "from the URL and set PGPASSWORD (or ~/.pgpass) on every node instead."
            )
        return
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    hosts = {node["NodeManagerHostname"] for node in nodes if node.get("Alive")}
    if len(hosts) > 1:
        raise UsageError(
            f"--db {db} is a SQLite file, which the other machines of the cluster "
            f"({', '.join(sorted(hosts))}) cannot share: pass --db postgresql://... "
            "(a database every node reaches)."
        )


def _actor_options(spec: ModelSpec, options: BackendOptions) -> dict[str, Any]:
    """Ray resources of one worker of `spec`'s backend, and how often Ray restarts it."""
    from gapbench.backends.registry import entry_of

    entry = entry_of(spec)
    base: dict[str, Any] = {"max_restarts": MAX_RESTARTS, "max_task_retries": MAX_RESTARTS}
    if entry.resources == "gpu" and _cluster("GPU") >= 1:
        return {**base, "num_gpus": 1, "num_cpus": 1}
    if entry.resources in ("cpu", "gpu"):
        return {**base, "num_cpus": options.resolved_threads()}
    return {**base, "num_cpus": 1}


def _cluster(resource: str) -> float:
    """How much of `resource` ('CPU', 'GPU') the cluster has, all nodes together."""
    return sum(node.get(resource, 0.0) for node in _node_resources())


def _node_resources() -> list[dict[str, float]]:
    """Each live node's resources ('CPU', 'GPU', ...)."""
    import ray

    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return [
        {key: float(value) for key, value in node.get("Resources", {}).items()}
        for node in nodes
        if node.get("Alive")
    ]


def workers_for(actor_options: dict[str, Any], units: int) -> int:
    """How many workers of those options the cluster holds at once (at most one per unit),
    counted node by node: a worker's CPUs and GPU must be on one node. Never more: a worker Ray
    cannot place would hold the units handed to it until the run ends, so when no node can hold
    even one, the run stops here with what to change."""
    cpus = float(actor_options.get("num_cpus", 1))
    gpus = float(actor_options.get("num_gpus", 0))
    nodes = _node_resources()
    fit = 0
    for node in nodes:
        on_node = int(node.get("CPU", 0.0) // cpus) if cpus else units
        if gpus:
            on_node = min(on_node, int(node.get("GPU", 0.0) // gpus))
        fit += on_node
    if fit < 1:
        largest = max((node.get("CPU", 0.0) for node in nodes), default=0.0)
        fix = (
            "add a node with a GPU and a free CPU"
            if gpus
            else f"pass --threads {max(1, int(largest))} or add a node with {cpus:g} CPUs"
        )
        raise UsageError(
            f"No node of the Ray cluster can hold one worker of this model ({cpus:g} CPUs"
            f"{f' and {gpus:g} GPU' if gpus else ''}; the largest node has {largest:g} CPUs): "
            f"{fix}."
        )
    return max(1, min(units, fit))


def run_on_ray(
    config: RunConfig,
    db: str,
    options: BackendOptions,
    listener: ProgressListener,
    unit_size: int = UNIT_INSTANCES,
) -> list[RunOutcome]:
    """Run `config` on the connected cluster, model after model; one outcome per model, summed
    over its units. The caller has checked the cluster can reach `db` (check_store_reachable)."""
    import ray

    units = work_units(config, unit_size)
    outcomes = []
    for m, spec in enumerate(config.models):
        mine = [u for u in units if u.model_index == m]
        todo = _remaining(config, spec, db)
        listener.model_started(spec.id, todo)
        counter = ray.remote(_Counter).options(num_cpus=0).remote()
        actor_options = _actor_options(spec, options)
        worker = ray.remote(ModelWorker).options(**actor_options)
        actors: list[Any] = [
            worker.remote(spec, db, options, config)
            for _ in range(workers_for(actor_options, len(mine)))
        ]
        try:
            results = _run_units(actors, mine, counter, listener)
        finally:
            for actor in actors:
                ray.kill(actor)
        outcome = _summed(spec.id, results)
        listener.model_finished(outcome)
        outcomes.append(outcome)
    return outcomes


def _remaining(config: RunConfig, spec: ModelSpec, db: str) -> int:
    from gapbench.runner import plan_model
    from gapbench.store.repository import open_store

    with open_store(db) as store:
        return plan_model(spec, replace(config, models=[spec]), store).remaining


def _run_units(
    actors: list[Any], units: list[WorkUnit], counter: Any, listener: ProgressListener
) -> list[dict[str, Any]]:
    """Hand units to idle workers until all are done, advancing the bar as workers report."""
    import ray

    idle = list(actors)
    queue = list(units)
    running: dict[Any, Any] = {}
    results: list[dict[str, Any]] = []
    shown = 0
    while queue or running:
        while idle and queue:
            actor = idle.pop()
            running[actor.run.remote(queue.pop(0), counter)] = actor
        ready, _ = ray.wait(list(running), num_returns=1, timeout=PROGRESS_FLUSH_S)
        for ref in ready:
            idle.append(running.pop(ref))
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                raise BackendError(
                    f"A Ray worker failed {MAX_RESTARTS + 1} times on one unit "
                    f"({_first_line(exc)}); what was stored is kept: rerun to continue."
                ) from None
        done = ray.get(counter.read.remote())
        if done > shown:
            listener.samples_elsewhere(done - shown)
            shown = done
    return results


def _summed(model_id: str, results: list[dict[str, Any]]) -> RunOutcome:
    from gapbench.runner import RunOutcome

    outcome = RunOutcome(model_id, planned=0, skipped=0)
    scope: set[tuple[str, str]] = set()
    for r in results:
        outcome.planned += r["planned"]
        outcome.skipped += r["skipped"]
        outcome.completed += r["completed"]
        outcome.failed += r["failed"]
        outcome.elsewhere += r["elsewhere"]
        outcome.run_id = r["run_id"] if r["run_id"] is not None else outcome.run_id
        scope |= {(task, settings) for task, settings in r["scope"]}
    outcome.scope = frozenset(scope)
    return outcome
