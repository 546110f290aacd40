"""One run's figures from the fake upstream's request log: bound, 429s, paid attempts.

The bound is :func:`slidebatch.core.bound.makespan_bound` over the latencies the fake upstream
actually drew for the requests it accepted in this run (unscaled upstream seconds), so the
ratio ``makespan / T*`` compares a scheduler with the best any scheduler could have done with
the same luck.

That bound is clairvoyant: it gives the first window's slots to the longest requests, which
no scheduler can do, since a latency is known only once the answer is back. So each row also
carries ``T_seq``, the best makespan with the same latencies in the order the upstream drew
them (the k-th accepted request gets the k-th draw whoever sends it): the yardstick of a
perfect scheduler that cannot see the future. ``makespan / T_seq`` is the scheduler's own
overhead; ``T_seq / T*`` is the price of not knowing latencies in advance.

With faults (the fault-mix run) ``T_seq`` also keeps what a failed attempt costs any
scheduler, not only its window slot: its slide can be sent again only once the failure is
known (a hang: at the attempt timeout) and, after a 503, no sooner than its ``Retry-After``
(SPEC section 4: retries honour it). See :func:`makespan_in_order`.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slidebatch.core.bound import makespan_bound

# Outcomes of accepted requests that delivered an image (a draft first is still an answer).
_DELIVERED = frozenset({"ok", "draft_then_final"})


@dataclass(frozen=True, slots=True)
class UpstreamCounts:
    """What the fake upstream saw during one run."""

    requests: int
    rate_limited: int
    paid: int  # answered with something other than a 429 (work was done, or a fault)
    latencies: tuple[float, ...]  # drawn for the accepted requests, unscaled seconds
    # Per accepted request, in the same order: None when it delivered an image, else the
    # least wait (unscaled seconds) after its end before its slide may be sent again.
    retry_waits: tuple[float | None, ...] = ()


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One row of the bench table. Times are unscaled upstream seconds."""

    name: str
    system: str  # "slidebatch" or "naive"
    slides: int
    successful: int
    makespan: float
    bound: float
    bound_in_order: float
    requests: int
    rate_limited: int
    paid: int

    @property
    def ratio(self) -> float:
        """makespan / T* (1.0 is perfect; below 1 cannot happen unless the bound is wrong)."""
        return self.makespan / self.bound if self.bound > 0 else float("inf")

    @property
    def ratio_in_order(self) -> float:
        """makespan / T_seq: the scheduler's own overhead over a non-clairvoyant optimum."""
        return self.makespan / self.bound_in_order if self.bound_in_order > 0 else float("inf")

    @property
    def success_rate(self) -> float:
        return self.successful / self.slides if self.slides else 1.0

    @property
    def rate_limited_share(self) -> float:
        return self.rate_limited / self.requests if self.requests else 0.0

    def as_json(self) -> dict[str, Any]:
        """The row as JSON-friendly values, derived figures included."""
        return {
            "name": self.name,
            "system": self.system,
            "slides": self.slides,
            "successful": self.successful,
            "success_rate": round(self.success_rate, 4),
            "makespan_s": round(self.makespan, 3),
            "bound_s": round(self.bound, 3),
            "ratio": round(self.ratio, 4),
            "bound_in_order_s": round(self.bound_in_order, 3),
            "ratio_in_order": round(self.ratio_in_order, 4),
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "rate_limited_share": round(self.rate_limited_share, 4),
            "paid_attempts": self.paid,
        }


def upstream_counts(
    stats: Mapping[str, Any], *, hang_latency: float | None = None, overload_wait: float = 0.0
) -> UpstreamCounts:
    """Count one run's requests from a ``/stats`` snapshot (taken after the run ended).

    A hung request occupied its caller until the attempt timeout whatever latency was drawn
    for it, so ``hang_latency`` (the timeout, unscaled) stands in for it when given.
    ``overload_wait`` is the ``Retry-After`` the upstream sends with a 503 (unscaled).
    """
    rows: Sequence[Mapping[str, Any]] = stats["requests"]
    limited = sum(1 for row in rows if row["outcome"] == "rate_limited")
    accepted = [row for row in rows if row["latency_drawn"] is not None]
    latencies = tuple(
        hang_latency
        if hang_latency is not None and row["fault"] == "hang"
        else float(row["latency_drawn"])
        for row in accepted
    )
    waits = tuple(_retry_wait(row, overload_wait) for row in accepted)
    return UpstreamCounts(
        requests=len(rows),
        rate_limited=limited,
        paid=len(rows) - limited,
        latencies=latencies,
        retry_waits=waits,
    )


def _retry_wait(row: Mapping[str, Any], overload_wait: float) -> float | None:
    """None for an accepted request that delivered; else the least wait before a retry."""
    if row["outcome"] in _DELIVERED:
        return None
    return overload_wait if row["fault"] == "503" else 0.0


def run_figures(
    *,
    name: str,
    system: str,
    slides: int,
    successful: int,
    makespan: float,
    counts: UpstreamCounts,
    rate: int | None,
    window: float,
    cap: int | None,
) -> RunFigures:
    """The row for one run: ``makespan`` and ``window`` in unscaled seconds."""
    bound = makespan_bound(counts.latencies, rate=rate, window=window, cap=cap)
    return RunFigures(
        name=name,
        system=system,
        slides=slides,
        successful=successful,
        makespan=makespan,
        bound=bound,
        bound_in_order=makespan_in_order(
            counts.latencies,
            rate=rate,
            window=window,
            cap=cap,
            retry_waits=counts.retry_waits or None,
            jobs=slides,
        ),
        requests=counts.requests,
        rate_limited=counts.rate_limited,
        paid=counts.paid,
    )


def makespan_in_order(
    latencies: Sequence[float],
    *,
    rate: int | None,
    window: float,
    cap: int | None = None,
    retry_waits: Sequence[float | None] | None = None,
    jobs: int | None = None,
) -> float:
    """The best makespan when the i-th request started gets the i-th latency (no lookahead).

    Same window and worker cap as :func:`makespan_bound`; the longest-first ordering is given
    up, because a scheduler cannot know a latency before the answer.

    ``retry_waits`` (aligned with ``latencies``; None: every request delivered) says which
    requests failed. A failed request still used its window slot and its worker for its whole
    latency (the upstream counted it and answered late, or not at all until the timeout), and
    it leaves its slide to be sent again: not before the failure is known, plus the least
    wait the upstream asked for. So this is a small simulation, ``jobs`` slides (default:
    the requests that delivered) and the requests in draw order: each request starts at the
    earliest instant when a slide is ready, a worker is free and the sliding window has room
    (the i-th start no sooner than one window after the (i-R)-th start: the slots move with
    the starts, as a sliding window's do). Starting any request earlier never delays a later
    one, so starting each as early as it can is the best online schedule for this draw.
    Without failures and without a binding cap this is the fixed slots ``W * floor((i-1)/R)``.
    """
    if not latencies:
        return 0.0
    waits = list(retry_waits) if retry_waits is not None else [None] * len(latencies)
    if len(waits) != len(latencies):
        raise ValueError("retry_waits must match latencies")
    count = jobs if jobs is not None else sum(1 for wait in waits if wait is None)
    ready = [0.0] * count  # when each slide not yet done may be sent
    workers = [0.0] * (len(latencies) if cap is None else min(cap, len(latencies)))
    heapq.heapify(workers)
    starts: list[float] = []
    finish = 0.0
    for latency, wait in zip(latencies, waits, strict=True):
        slide_ready = heapq.heappop(ready) if ready else 0.0
        start = max(slide_ready, heapq.heappop(workers))
        if rate is not None and len(starts) >= rate:
            start = max(start, starts[-rate] + window)
        starts.append(start)
        heapq.heappush(workers, start + latency)
        finish = max(finish, start + latency)
        if wait is not None:
            heapq.heappush(ready, start + latency + wait)
    return finish
