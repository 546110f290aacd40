"""The physical limit on a batch's makespan (SPEC section 4), the yardstick of the bench.

With ``rate`` R starts per ``window`` W (the opening burst allowed) and per-request
latencies sorted longest first, the i-th request (1-based) cannot start before
``s_i = W * floor((i - 1) / R)``, so no scheduler can finish before
``T* = max_i(s_i + L_(i))``, which is also >= max L. Longest first is the best order
because the earliest start slots go to the requests that need the most time.

With a worker cap ``c`` (``max_workers``) the figure is longest-first list scheduling on
``c`` workers with those release times: each request, longest first, starts on the worker
that frees first, not before its release. That is the bound used with a cap; it is a
heuristic there (exact scheduling with release times is NP-hard), usually tight and easy
to recompute by hand.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def release_times(count: int, *, rate: int | None, window: float) -> list[float]:
    """The earliest start of each of ``count`` requests under R per W (0 when unlimited)."""
    if rate is None:
        return [0.0] * count
    if rate < 1:
        raise ValueError("rate must be at least 1")
    return [window * (i // rate) for i in range(count)]


def makespan_bound(
    latencies: Sequence[float], *, rate: int | None, window: float, cap: int | None = None
) -> float:
    """The best makespan any scheduler could reach for these latencies and limits."""
    if not latencies:
        return 0.0
    if cap is not None and cap < 1:
        raise ValueError("cap must be at least 1")
    ordered = sorted(latencies, reverse=True)
    releases = release_times(len(ordered), rate=rate, window=window)
    if cap is None:
        return max(
            ordered[0], max(s + latency for s, latency in zip(releases, ordered, strict=True))
        )
    workers = [0.0] * min(cap, len(ordered))
    finish = 0.0
    for release, latency in zip(releases, ordered, strict=True):
        start = max(release, heapq.heappop(workers))
        heapq.heappush(workers, start + latency)
        finish = max(finish, start + latency)
    return finish
