"""How long a batch should take, from the upstream's limits and measured latency (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from slidebatch.core.bound import makespan_bound

# Exact list scheduling is cheap up to here (an estimate is asked per status call).
EXACT_UP_TO = 2000


@dataclass(frozen=True, slots=True)
class UpstreamFigures:
    """What the scheduler knows about the upstream right now."""

    rate: int | None  # requests per window; None: no known limit
    window: float  # seconds
    latency: float  # typical (median) seconds per image
    latency_p95: float | None = None
    measured: bool = False  # latency from real answers, not an assumption
    next_start_in: float = 0.0  # seconds until the gate lets the next request start
    hold: str | None = None  # why it waits: "rate_limit", "quota" (parked) or "blocked"
    learned: bool = False  # the rate or the window came from the upstream's answers
    blocked_for: float | None = None  # blocked: the seconds the upstream still asks to wait


def estimate_seconds(slides: int, figures: UpstreamFigures, workers: int | None) -> float:
    """Best-case makespan of ``slides`` images of typical latency, under both limits.

    Up to ``EXACT_UP_TO`` slides this is the benchmark's bound (``core.bound``) with every
    latency equal: rate-window release times and list scheduling on ``workers``. Beyond
    that, the larger of the two limits alone (rate windows; rounds of ``workers``).
    """
    if slides <= 0:
        return 0.0
    if slides <= EXACT_UP_TO:
        return makespan_bound(
            [figures.latency] * slides, rate=figures.rate, window=figures.window, cap=workers
        )
    by_rate = figures.latency
    if figures.rate:
        by_rate = figures.window * ((slides - 1) // figures.rate) + figures.latency
    by_workers = figures.latency
    if workers:
        by_workers = math.ceil(slides / workers) * figures.latency
    return max(by_rate, by_workers)


def workers_to_saturate(figures: UpstreamFigures) -> int | None:
    """Workers needed to keep the rate limit busy: rate x latency (Little's law)."""
    if not figures.rate:
        return None
    return max(1, math.ceil(figures.rate / figures.window * figures.latency))


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``1m 15s``; ``8.4`` -> ``8s``; ``3725`` -> ``1h 2m``; ``0.3`` -> ``<1s``."""
    if seconds < 0.5:
        return "<1s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
