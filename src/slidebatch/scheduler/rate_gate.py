"""The contract between the dispatcher and whatever decides when a request may start.

``scheduler.gate.Gate`` (one process, in memory) is the implementation today. A gate shared
by several worker processes (PostgreSQL backed) implements the same Protocols and returns
the same ``GateStats``; the dispatcher, the engine and the API do not change.

The contract, in full:

* ``acquire()`` waits until one more request to the credential may start, counts the
  start and hands out a ``GatePermit``;
* the permit's ``confirm()`` is awaited right before the request leaves (after the
  'generating' write that follows the permit): a pause or park that came meanwhile (another
  request's 429) holds it, its start given back and decided again as by ``acquire``; then
  the start counts from now, since the upstream's window counts the request's arrival, not
  our permit. ``sent()`` is its synchronous half: count from now, check nothing;
* the permit's outcome is reported exactly once: ``success`` (with the upstream's
  X-RateLimit figures), ``failure`` (429s and overloads teach the gate), ``release``
  (cancelled mid-request) or ``abandon`` (never sent: the start is un-counted);
* ``park(until, reason)`` stops every start until ``until`` (the gate's clock) for a reason
  waiting a little cannot fix, such as a spent daily quota;
* ``stats()`` is a snapshot for logs, advice, ``/readyz`` and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from slidebatch.errors import ProviderError
from slidebatch.providers.base import RateLimitInfo


@dataclass(frozen=True, slots=True)
class GateStats:
    """A snapshot of one gate, for logs, ``config/optimal``, ``config/validate`` and metrics.

    Times (``paused_until``, ``parked_until``, ``blocked_until``, ``next_start``) are on the
    gate's clock, like ``Clock.now()``.
    """

    configured_rate: int | None
    effective_rate: float | None  # None: no limit known yet (in-flight cap only)
    learned_limit: int | None
    window: float
    per_day: int | None
    starts_in_window: int
    starts_today: int
    in_flight: int
    in_flight_cap: int
    max_in_flight: int
    waiting: int
    paused_until: float | None  # None when not paused
    requests_total: int
    rate_limited_total: int
    overload_total: int
    latency_p50: float | None
    latency_p95: float | None
    margin: float = 0.0  # seconds added to the window; widened by skew 429s
    skew_total: int = 0  # 429s taken for clock skew (paused for, not cut)
    # Parked by ``RateGate.park``: no start before ``parked_until``, for ``park_reason``.
    parked_until: float | None = None
    park_reason: str | None = None
    # The upstream asked for a wait beyond the pause cap (``UPSTREAM_MAX_PAUSE_SECONDS``):
    # the gate paused for the cap only and reports the credential blocked until the
    # instant asked for, or until a request succeeds again.
    blocked_until: float | None = None
    window_learned: bool = False  # the window length came from the upstream, not a setting
    next_start: float | None = None  # earliest time the next start may happen

    @property
    def blocked(self) -> bool:
        """True while the upstream's last word was a wait longer than the pause cap."""
        return self.blocked_until is not None


def far_start(stats: GateStats, now: float, *, within: float) -> float | None:
    """When the gate's next start, pause or park ends (``stats``' clock), if that is more
    than ``within`` seconds after ``now``; None when it is near or nothing holds a start.
    Jobs started ahead (the dispatcher) and claims waiting for a permit (a fleet worker)
    go back to pending when it is far."""
    times = (stats.next_start, stats.paused_until, stats.parked_until)
    latest = max((at for at in times if at is not None), default=None)
    return latest if latest is not None and latest > now + within else None


def far_park(stats: GateStats, now: float, *, within: float) -> float | None:
    """When the gate's park (a spent quota) ends (``stats``' clock), if that is more than
    ``within`` seconds after ``now``; None when there is none or it ends soon. A permit
    handed out before the park is given back rather than held in ``confirm`` until it ends
    (the dispatcher and a fleet worker); a pause (capped, seconds) is waited out there."""
    parked = stats.parked_until
    return parked if parked is not None and parked > now + within else None


class GatePermit(Protocol):
    """The right to send one request; its outcome is reported exactly once."""

    def sent(self) -> None:
        """The request leaves now: its start counts from now rather than from the permit."""

    async def confirm(self) -> None:
        """The request leaves when this returns: a pause or park that came since the permit
        was handed out holds it (its start is given back and decided again, as ``acquire``
        decides), and its start counts from then (as ``sent``). Cancelled while held:
        nothing was sent, and the start is given back (as ``abandon``)."""

    def success(self, rate_limit: RateLimitInfo | None = None) -> None:
        """The upstream answered with an image (its X-RateLimit figures, if any)."""

    def failure(self, error: ProviderError) -> None:
        """The attempt failed; 429s and overloads teach the gate."""

    def release(self) -> None:
        """The attempt was cancelled mid-request: free the slot, learn nothing."""

    def abandon(self) -> None:
        """The request was never sent: un-count its start."""


class RateGate(Protocol):
    """Decides when the next request to one upstream credential may start."""

    async def acquire(self) -> GatePermit:
        """Wait until one more request may start, and count it."""
        ...

    def park(self, until: float, reason: str) -> None:
        """No start before ``until`` (clock time) for ``reason``, whatever else allows."""

    def stats(self) -> GateStats:
        """The gate's figures for logs, advice and metrics."""
        ...
