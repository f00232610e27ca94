"""Charging time and money to individual samples.

A run knows its wall time of generation; its samples know their own latencies. When requests run
in parallel (batching, API concurrency) latencies overlap and their sum exceeds the wall time, so
each sample is charged its latency scaled by wall time / summed latency of every generation the
run made. Sequentially the scale is about 1. This keeps tokens/s an honest aggregate throughput.

The denominator is what the run itself generated (recorded with its measures), not what it kept
in the store: a generation that is not kept (a failure a later run replaced, or a sample another
run stored first) still took its own time, and dividing the run's wall time among the kept ones
only would charge them that time too. Together with claims (no run generates a sample another
holds, and a run's wall time excludes waiting for other runs), each sample is charged its own time
whatever runs ran beside it. Runs stored by an older gapbench fall back to the kept samples'
latencies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gapbench.perf.cost import HardwarePrice, TokenPrice, time_cost, token_cost
from gapbench.store.records import RunRow, SampleRecord

BillingOf = Callable[[str], str]
"""A stored backend name -> 'tokens' (charged at the provider's token price) or 'time' (our
machine's time); backends.registry.billing_of is the real one."""


@dataclass(frozen=True)
class RunAccount:
    backend: str
    model_id: str
    scale: float
    """Wall seconds charged per second of sample latency."""
    peak_rss_mb: float | None
    unsafe_sandbox: bool = False
    """The run scored model code without the sandbox (--unsafe-sandbox): its code scores are the
    program's word as much as the tests'."""
    billing: str = "time"
    """'tokens': the provider's token price applies, not our machine's time."""


@dataclass(frozen=True)
class Accounting:
    """Everything needed to turn stored samples into seconds and dollars."""

    runs: Mapping[int, RunAccount] = field(default_factory=dict)
    hardware: HardwarePrice | None = None
    token_prices: Mapping[str, TokenPrice] = field(default_factory=dict)
    """List prices of API models by model id."""

    @property
    def usd_per_hour(self) -> float:
        return 0.0 if self.hardware is None else self.hardware.usd_per_hour

    def wall_seconds(self, sample: SampleRecord) -> float:
        run = self.runs.get(sample.run_id)
        return sample.latency_s * (run.scale if run else 1.0)

    def cost_usd(self, sample: SampleRecord) -> float | None:
        """Dollars charged to one sample, or None when no price applies."""
        run = self.runs.get(sample.run_id)
        if run is not None and run.billing == "tokens":
            price = self.token_prices.get(sample.key.model_id)
            if price is None:
                return None
            return token_cost(sample.prompt_tokens, sample.completion_tokens, price)
        if self.hardware is None:
            return None
        return time_cost(self.wall_seconds(sample), self.hardware)

    def unsafe_sandbox(self, sample: SampleRecord) -> bool:
        """The sample's score came from a run that ran model code without the sandbox."""
        run = self.runs.get(sample.run_id)
        return run is not None and run.unsafe_sandbox

    def peak_rss_mb(self, model_id: str) -> float | None:
        peaks = [r.peak_rss_mb for r in self.runs.values() if r.model_id == model_id]
        known = [p for p in peaks if p is not None]
        return max(known) if known else None


def account_runs(
    runs: Sequence[RunRow], latency_totals: Mapping[int, float], billing_of: BillingOf
) -> dict[int, RunAccount]:
    """Per-run scale factors. A run without measures (killed before its first chunk was done, or
    run by an older gapbench and killed) is assumed to have kept its batch full: scale 1 / batch
    size. `latency_totals` are the kept samples' summed latencies by run, for runs that did not
    record their own."""
    accounts = {}
    for run in runs:
        total = latency_totals.get(run.id, 0.0)
        if run.measures is not None and run.measures.latency_seconds:
            total = run.measures.latency_seconds
        if run.measures is not None and total > 0:
            scale = run.measures.generation_seconds / total
        else:
            scale = 1.0 / max(1, run.info.batch_size)
        peak = run.measures.peak_rss_mb if run.measures else None
        sandbox = run.info.sampling.get("sandbox")
        unsafe = isinstance(sandbox, dict) and sandbox.get("level") == "unsafe"
        accounts[run.id] = RunAccount(
            run.info.backend, run.info.model_id, scale, peak, unsafe, billing_of(run.info.backend)
        )
    return accounts
