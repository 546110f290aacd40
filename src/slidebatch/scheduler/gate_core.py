"""The decisions of one gate, without waiting: what the window, the cap and the holds allow.

``GateCore`` composes the rate controller (``rate_control.py``), the in-flight cap
(``in_flight.py``) and the holds (``holds.py``) and answers every question with the time
passed in, so that it needs no clock, no lock and no event loop. ``gate.Gate`` wraps it for
one process (an ``asyncio.Lock`` and a clock); ``fleet.pg_gate.PgGate`` loads it from a
PostgreSQL row under a row lock, asks it, and stores it back, so that every worker of a
fleet decides with the same window, AIMD and learned limits.

Start numbers (``seq``) order the starts of the gate (a failure that predates the last cut
does not cut again); they are part of the core so that a fleet numbers its starts once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from slidebatch.errors import ProviderError, RateLimited, TransientProviderError
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.scheduler.holds import Holds
from slidebatch.scheduler.in_flight import InFlightCap
from slidebatch.scheduler.rate_control import RateController
from slidebatch.scheduler.rate_gate import GateStats


class GateCore:
    """The window, AIMD, learned limits, in-flight cap and holds of one gate (no I/O)."""

    def __init__(self, config: GateConfig, *, now: float) -> None:
        self.config = config
        self.rate = RateController(config, now=now)
        self.cap = InFlightCap(config.max_in_flight, decrease=config.decrease)
        self.holds = Holds(max_pause=config.max_pause)
        self.requests_total = 0
        self.seq = 0

    def adopt(self, old: GateCore) -> None:
        """Take over ``old``'s starts and numbering (its settings changed, not the past).

        The upstream still counts the starts made under the old settings, so they stay in
        the new windows; what was learned under them is not carried over.
        """
        windows = old.rate.starts
        for at in (windows.day or windows.rate).times():
            self.rate.record(at)
        self.seq = old.seq
        self.requests_total = old.requests_total

    # --- starting ---

    def full(self, now: float) -> bool:
        """True when the in-flight cap allows no start (AIMD grows the rate first)."""
        self.rate.maybe_grow(now)
        return self.cap.full()

    def next_start(self, now: float, *, observe: bool = True) -> float:
        """Earliest start the holds and the window allow (``observe``: someone is waiting)."""
        held = max(now, self.holds.until())
        return max(held, self.rate.next_start(now, self.holds.paused_until, observe=observe))

    def start(self, now: float) -> int:
        """Count a start at ``now``; return its start number."""
        self.rate.record(now)
        self.cap.take()
        self.requests_total += 1
        self.seq += 1
        return self.seq

    def sent(self, started_at: float, now: float) -> None:
        """The start counted at ``started_at`` left only at ``now`` (a write came between).

        The upstream's window counts a request from its arrival: a start counted earlier
        than it left would free its slot early, and the next window's burst would meet the
        upstream's edge by the write's latency (under load, a refusal per request).
        """
        self.rate.moved(started_at, now)

    def park(self, until: float, reason: str) -> None:
        """No start before ``until`` for ``reason`` (a spent quota, no credits)."""
        self.holds.park(until, reason)

    def sent_late(self, counted: float, at: float) -> None:
        """The start counted at ``counted`` left only at ``at``: its slot frees that much
        later (the upstream counts it from its arrival)."""
        self.rate.move(counted, at)

    # --- outcomes: each frees the slot its start took ---

    def succeeded(self, now: float, seq: int, started_at: float, info: RateLimitInfo) -> None:
        """The start numbered ``seq`` (at ``started_at``) succeeded with the upstream's
        figures ``info``."""
        self.cap.free()
        self.holds.cleared(started_at)
        self.rate.heard(figures=info != RateLimitInfo())
        self.rate.learn(info.limit)
        self.rate.reconcile(now, info.remaining)
        if info.remaining is not None:
            self.rate.learn_reset(
                now,
                info.reset_after,
                limit=info.limit,
                remaining=info.remaining,
                sent_at=started_at,
            )
        if info.remaining == 0 and info.reset_after is not None:
            # The upstream says its window is full: wait for its reset, no cut (no 429 yet).
            self.holds.pause(now, info.reset_after)
        self.cap.succeeded(seq)
        self.rate.maybe_grow(now)

    def failed(self, now: float, seq: int, started_at: float, error: ProviderError) -> None:
        """The start numbered ``seq`` (at ``started_at``) failed with ``error``."""
        in_use = self.cap.in_flight
        self.cap.free()
        if isinstance(error, RateLimited):
            hint = self.rate.pause_for(error, now)
            self.holds.pause(now, hint)
            self.rate.rate_limited(
                seq,
                started_at,
                error,
                hint=hint,
                now=now,
                paused_until=self.holds.paused_until,
                last_seq=self.seq,
            )
        elif isinstance(error, TransientProviderError) and error.overload:
            if error.retry_after is not None:
                self.holds.pause(now, error.retry_after)
            self.cap.overloaded(seq, in_use=in_use, last_seq=self.seq)
        else:
            self.cap.answered()

    def released(self) -> None:
        """A start's outcome is unknown (cancelled mid-request): free its slot only."""
        self.cap.free()

    def abandoned(self, started_at: float) -> None:
        """A start never reached the upstream: free its slot and un-count it."""
        self.rate.forget(started_at)
        self.requests_total -= 1
        self.cap.free()

    # --- figures ---

    def stats(self, now: float, *, waiting: int, latencies: Iterable[float]) -> GateStats:
        """The gate's figures at ``now``; ``waiting`` and ``latencies`` are the caller's."""
        rate = self.rate
        ordered = sorted(latencies)
        today = rate.starts.today(now)
        return GateStats(
            configured_rate=rate.configured_rate,
            effective_rate=rate.rate.value if rate.rate is not None else None,
            learned_limit=rate.learned_limit,
            window=rate.window_seconds,
            per_day=self.config.per_day,
            starts_in_window=rate.starts.rate.count(now),
            starts_today=today if today is not None else self.requests_total,
            in_flight=self.cap.in_flight,
            in_flight_cap=self.cap.limit,
            max_in_flight=self.cap.max_in_flight,
            waiting=waiting,
            paused_until=self.holds.paused(now),
            requests_total=self.requests_total,
            rate_limited_total=rate.rate_limited_total,
            overload_total=self.cap.overload_total,
            latency_p50=_percentile(ordered, 0.50),
            latency_p95=_percentile(ordered, 0.95),
            margin=rate.margin.value,
            skew_total=rate.margin.skew_total,
            window_learned=rate.window_learned,
            parked_until=self.holds.parked(now),
            park_reason=self.holds.reason(now),
            blocked_until=self.holds.blocked(now),
            next_start=self.next_start(now, observe=False),
        )


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ordered sample."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]
