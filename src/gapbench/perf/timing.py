"""Per-request timing metrics and their distribution, as pure functions.

The definitions follow vLLM's benchmark (`calculate_metrics`): time per output token excludes the
first token, whose wait is prompt processing, so TPOT = (latency - ttft) / (output_tokens - 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestMetrics:
    latency_s: float
    ttft_s: float | None
    tpot_s: float | None
    """Seconds per output token after the first; None with fewer than two tokens or no TTFT."""
    output_tokens_per_s: float | None


def request_metrics(latency_s: float, ttft_s: float | None, output_tokens: int) -> RequestMetrics:
    """Derive TPOT and output tokens/s of one request from its latency, TTFT and token count."""
    tpot = None
    if ttft_s is not None and output_tokens > 1:
        tpot = max(0.0, latency_s - ttft_s) / (output_tokens - 1)
    speed = output_tokens / latency_s if latency_s > 0 and output_tokens > 0 else None
    return RequestMetrics(latency_s, ttft_s, tpot, speed)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between order statistics — the
    definition of numpy's default `percentile`, so figures match what users compute themselves."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Distribution:
    p50: float | None
    p90: float | None
    p99: float | None


def distribution(values: Sequence[float]) -> Distribution:
    return Distribution(percentile(values, 50), percentile(values, 90), percentile(values, 99))
