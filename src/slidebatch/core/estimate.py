"""How long a batch should take, from the upstream's limits and measured latency (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UpstreamFigures:
    """What the scheduler knows about the upstream right now."""

    rate: int | None  # requests per window; None: no known limit
    window: float  # seconds
    latency: float  # typical (median) seconds per image
    latency_p95: float | None = None
    measured: bool = False  # latency from real answers, not an assumption


def estimate_seconds(slides: int, figures: UpstreamFigures, workers: int | None) -> float:
    """Best-case makespan of ``slides`` images: rate-window slots, then a worker cap.

    Rate: the i-th request cannot start before ``window * floor((i-1)/rate)``. Workers:
    ``ceil(slides/workers)`` rounds of ``latency`` each. The larger of the two binds.
    """
    if slides <= 0:
        return 0.0
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
