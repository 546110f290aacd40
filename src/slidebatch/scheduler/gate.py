"""One gate per upstream credential: when may the next request start.

Every batch of the process shares the gate of its credential, because the upstream's limit
is per account. The gate composes three parts and one hold, and a request may start when
all of them allow it:

* the rate controller (``rate_control.py``): the sliding window of starts, at most the
  effective rate per window plus a skew margin (the opening burst allowed) and at most
  ``per_day`` per 24 hours; AIMD on 429s, limits learned from the upstream's figures;
* the in-flight cap (``in_flight.py``), with AIMD on 503s and timeouts when they are the
  pattern (half of the recent answers), not the odd hang or 503;
* the holds (``holds.py``): pauses the upstream asked for (capped at ``max_pause``; a
  longer ask marks the credential blocked) and parks for quotas waiting cannot fix.

The decisions live in ``gate_core.GateCore`` (no clock, no waiting), which the fleet gate
(``fleet/pg_gate.py``) shares through PostgreSQL. ``Gate`` implements ``rate_gate.RateGate``
in one process; ``GateRegistry`` makes one per credential from one ``GateConfig``.
"""

from __future__ import annotations

import asyncio
from collections import deque

from slidebatch.errors import ProviderError
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.clock import Clock, first_of
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.scheduler.gate_core import GateCore
from slidebatch.scheduler.rate_gate import GateStats

__all__ = [
    "EPSILON",
    "LATENCY_SAMPLES",
    "Gate",
    "GateConfig",
    "GateRegistry",
    "GateStats",
    "Permit",
]

LATENCY_SAMPLES = 200  # latencies kept for the p50/p95 of the stats
EPSILON = 1e-9  # seconds: a next start this close to now is now


class Permit:
    """The right to send one request; report its outcome exactly once."""

    __slots__ = ("_done", "_gate", "seq", "started_at")

    def __init__(self, gate: Gate, started_at: float, seq: int) -> None:
        self._gate = gate
        self.started_at = started_at
        self.seq = seq  # start order: tells whether a failure predates the last cut
        self._done = False

    def sent(self) -> None:
        """The request leaves now: its start counts from now (see ``GateCore.sent``)."""
        if not self._done:
            self.started_at = self._gate._on_sent(self)

    async def confirm(self) -> None:
        """The request leaves when this returns (see ``rate_gate.GatePermit.confirm``)."""
        if self._done:
            return
        try:
            await self._gate._on_confirm(self)
        except BaseException:
            self.abandon()  # never sent
            raise

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
    """The shared limiter of one upstream credential (in memory, one process).

    The decisions are ``GateCore``'s; the gate adds the waiting: FIFO among waiters, a
    sleep until the next start, woken early when an outcome may move it.
    """

    def __init__(self, config: GateConfig | None = None, *, clock: Clock) -> None:
        self.config = config or GateConfig()
        self._clock = clock
        self._core = GateCore(self.config, now=clock.now())
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._waiting = 0
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)

    # --- acquiring ---

    async def acquire(self) -> Permit:
        """Wait until one more request may start (FIFO among waiters), then count it."""
        self._waiting += 1
        try:
            async with self._lock:
                while True:
                    now = self._clock.now()
                    if self._core.full(now):
                        self._changed.clear()
                        await self._changed.wait()
                        continue
                    at = self._core.next_start(now)
                    # A hair's breadth is "now": a sleep shorter than the clock's float
                    # resolution would not move it, and we would spin.
                    if at <= now + EPSILON:
                        return Permit(self, now, self._core.start(now))
                    # An outcome may move the next start (a learned limit or window, a
                    # probe allowed): wake on it as well as on the time.
                    self._changed.clear()
                    await first_of(self._clock.sleep(at - now), self._changed.wait())
        finally:
            self._waiting -= 1

    def park(self, until: float, reason: str) -> None:
        """No start before ``until`` (clock time) for ``reason`` (a spent quota, no credits)."""
        self._core.park(until, reason)

    # --- outcomes (called by Permit) ---

    def _on_sent(self, permit: Permit) -> float:
        # Only ever later: a waiter's next start can only move later, so nobody is woken.
        now = self._clock.now()
        self._core.sent(permit.started_at, now)
        return now

    async def _on_confirm(self, permit: Permit) -> None:
        """Count ``permit`` from now, unless a pause or park came since it was handed out
        (the holds allowed its start then): its start is then given back and decided again,
        behind the waiters already queued, so that the pacing after a pause and a cut rate
        bind it as they bind every other start."""
        if self._core.holds.until() <= self._clock.now() + EPSILON:
            permit.started_at = self._on_sent(permit)
            return
        permit.abandon()
        again = await self.acquire()
        permit.started_at, permit.seq = again.started_at, again.seq
        permit._done = False

    def _on_success(self, permit: Permit, info: RateLimitInfo) -> None:
        now = self._clock.now()
        self._latencies.append(max(0.0, now - permit.started_at))
        self._core.succeeded(now, permit.seq, permit.started_at, info)
        self._changed.set()

    def _on_failure(self, permit: Permit, error: ProviderError) -> None:
        self._core.failed(self._clock.now(), permit.seq, permit.started_at, error)
        self._changed.set()

    def _on_release(self) -> None:
        self._core.released()
        self._changed.set()

    def _on_abandon(self, permit: Permit) -> None:
        self._core.abandoned(permit.started_at)
        self._changed.set()

    # --- figures ---

    def stats(self) -> GateStats:
        """The gate's figures right now."""
        return self._core.stats(self._clock.now(), waiting=self._waiting, latencies=self._latencies)


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
