"""One gate per upstream credential: when may the next request start.

Every batch of the process shares the gate of its credential, because the upstream's limit
is per account. The gate composes three parts and one hold, and a request may start when
all of them allow it:

* the rate controller (``rate_control.py``): the sliding window of starts, at most the
  effective rate per window plus a skew margin (the opening burst allowed) and at most
  ``per_day`` per 24 hours; AIMD on 429s, limits learned from the upstream's figures;
* the in-flight cap (``in_flight.py``), with AIMD on 503s and timeouts;
* the holds (``holds.py``): pauses the upstream asked for (capped at ``max_pause``; a
  longer ask marks the credential blocked) and parks for quotas waiting cannot fix.

``Gate`` implements ``rate_gate.RateGate``; ``GateRegistry`` makes one per credential from
one ``GateConfig``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from slidebatch.errors import ProviderError, RateLimited, TransientProviderError
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.clock import Clock, first_of
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.scheduler.holds import Holds
from slidebatch.scheduler.in_flight import InFlightCap
from slidebatch.scheduler.rate_control import RateController
from slidebatch.scheduler.rate_gate import GateStats

__all__ = ["Gate", "GateConfig", "GateRegistry", "GateStats", "Permit"]

_LATENCY_SAMPLES = 200
_EPSILON = 1e-9


class Permit:
    """The right to send one request; report its outcome exactly once."""

    __slots__ = ("_done", "_gate", "seq", "started_at")

    def __init__(self, gate: Gate, started_at: float, seq: int) -> None:
        self._gate = gate
        self.started_at = started_at
        self.seq = seq  # start order: tells whether a failure predates the last cut
        self._done = False

    def success(self, rate_limit: RateLimitInfo | None = None) -> None:
        """The request succeeded; ``rate_limit`` holds the upstream's X-RateLimit figures."""
        if self._settle():
            self._gate._on_success(self, rate_limit or RateLimitInfo())

    def failure(self, error: ProviderError) -> None:
        """The request failed with ``error``: frees the slot, may pause or cut."""
        if self._settle():
            self._gate._on_failure(self, error)

    def release(self) -> None:
        """The request was sent but its outcome is unknown (cancelled): free the slot only."""
        if self._settle():
            self._gate._on_release()

    def abandon(self) -> None:
        """Nothing was sent after all: free the slot and un-count the start."""
        if self._settle():
            self._gate._on_abandon(self)

    def _settle(self) -> bool:
        first = not self._done
        self._done = True
        return first


class Gate:
    """The shared limiter of one upstream credential (in memory, one process)."""

    def __init__(self, config: GateConfig | None = None, *, clock: Clock) -> None:
        self.config = config or GateConfig()
        self._clock = clock
        self._rate = RateController(self.config, now=clock.now())
        self._cap = InFlightCap(self.config.max_in_flight, decrease=self.config.decrease)
        self._holds = Holds(max_pause=self.config.max_pause)
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._waiting = 0
        self._requests_total = 0
        self._seq = 0
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)

    # --- acquiring ---

    async def acquire(self) -> Permit:
        """Wait until one more request may start (FIFO among waiters), then count it."""
        self._waiting += 1
        try:
            async with self._lock:
                while True:
                    now = self._clock.now()
                    self._rate.maybe_grow(now)
                    if self._cap.full():
                        self._changed.clear()
                        await self._changed.wait()
                        continue
                    at = self._next_start(now)
                    # A hair's breadth is "now": a sleep shorter than the clock's float
                    # resolution would not move it, and we would spin.
                    if at <= now + _EPSILON:
                        return self._start(now)
                    # An outcome may move the next start (a learned limit or window, a
                    # probe allowed): wake on it as well as on the time.
                    self._changed.clear()
                    await first_of(self._clock.sleep(at - now), self._changed.wait())
        finally:
            self._waiting -= 1

    def park(self, until: float, reason: str) -> None:
        """No start before ``until`` (clock time) for ``reason`` (a spent quota, no credits)."""
        self._holds.park(until, reason)

    def _next_start(self, now: float, *, observe: bool = True) -> float:
        held = max(now, self._holds.until())
        return max(held, self._rate.next_start(now, self._holds.paused_until, observe=observe))

    def _start(self, now: float) -> Permit:
        self._rate.record(now)
        self._cap.take()
        self._requests_total += 1
        self._seq += 1
        return Permit(self, now, self._seq)

    # --- outcomes (called by Permit) ---

    def _on_success(self, permit: Permit, info: RateLimitInfo) -> None:
        now = self._clock.now()
        self._free_slot()
        self._holds.cleared()
        self._latencies.append(max(0.0, now - permit.started_at))
        self._rate.heard(figures=info != RateLimitInfo())
        self._rate.learn(info.limit)
        if info.remaining is not None:
            self._rate.learn_reset(
                now, info.reset_after, limit=info.limit, remaining=info.remaining
            )
        if info.remaining == 0 and info.reset_after is not None:
            # The upstream says its window is full: wait for its reset, no cut (no 429 yet).
            self._holds.pause(now, info.reset_after)
        self._cap.succeeded(permit.seq)
        self._rate.maybe_grow(now)

    def _on_failure(self, permit: Permit, error: ProviderError) -> None:
        now = self._clock.now()
        in_use = self._cap.in_flight
        self._free_slot()
        if isinstance(error, RateLimited):
            hint = self._rate.pause_for(error)
            self._holds.pause(now, hint)
            self._rate.rate_limited(
                permit.seq,
                permit.started_at,
                error,
                hint=hint,
                now=now,
                paused_until=self._holds.paused_until,
                last_seq=self._seq,
            )
        elif isinstance(error, TransientProviderError) and error.overload:
            if error.retry_after is not None:
                self._holds.pause(now, error.retry_after)
            self._cap.overloaded(permit.seq, in_use=in_use, last_seq=self._seq)

    def _on_release(self) -> None:
        self._free_slot()

    def _on_abandon(self, permit: Permit) -> None:
        self._rate.forget(permit.started_at)
        self._requests_total -= 1
        self._free_slot()

    def _free_slot(self) -> None:
        self._cap.free()
        self._changed.set()

    # --- figures ---

    def stats(self) -> GateStats:
        """The gate's figures right now."""
        now = self._clock.now()
        rate = self._rate
        latencies = sorted(self._latencies)
        today = rate.starts.today(now)
        return GateStats(
            configured_rate=rate.configured_rate,
            effective_rate=rate.rate.value if rate.rate is not None else None,
            learned_limit=rate.learned_limit,
            window=rate.window_seconds,
            per_day=self.config.per_day,
            starts_in_window=rate.starts.rate.count(now),
            starts_today=today if today is not None else self._requests_total,
            in_flight=self._cap.in_flight,
            in_flight_cap=self._cap.limit,
            max_in_flight=self._cap.max_in_flight,
            waiting=self._waiting,
            paused_until=self._holds.paused(now),
            requests_total=self._requests_total,
            rate_limited_total=rate.rate_limited_total,
            overload_total=self._cap.overload_total,
            latency_p50=_percentile(latencies, 0.50),
            latency_p95=_percentile(latencies, 0.95),
            margin=rate.margin.value,
            skew_total=rate.margin.skew_total,
            window_learned=rate.window_learned,
            parked_until=self._holds.parked(now),
            park_reason=self._holds.reason(now),
            blocked_until=self._holds.blocked(now),
            next_start=self._next_start(now, observe=False),
        )


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ordered sample."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class GateRegistry:
    """One gate per rate scope (``scope.RateScope.key``), shared by every batch of the process."""

    def __init__(self, config: GateConfig, *, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._gates: dict[str, Gate] = {}

    def gate_for(self, scope: str) -> Gate:
        """The gate of ``scope``, made on first use."""
        gate = self._gates.get(scope)
        if gate is None:
            gate = self._gates[scope] = Gate(self.config, clock=self._clock)
        return gate

    def stats(self) -> dict[str, GateStats]:
        """Every gate's figures by scope."""
        return {credential: gate.stats() for credential, gate in self._gates.items()}
