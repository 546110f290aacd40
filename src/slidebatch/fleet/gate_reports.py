"""What a fleet gate's worker tells the shared state: outcomes of its permits, and parks.

``RateGate``'s permit outcomes and ``park`` are synchronous calls; the fleet gate queues
them as these values and writes them at its next round with the database (the very next
decision of this worker, or a background flush within milliseconds), in order, under the
scope's row lock. ``apply`` is the one place a report meets the shared ``GateCore``.

An answer is applied at the fleet time it came (``at``), not at the round's: its figures
are relative to that moment (a reset "in 9 s", a 429's Retry-After), and a round that
comes later would stretch them by its delay (a reset read 0.3 s late taught a window
0.3 s too long, and paused the fleet 0.3 s too long after an upstream's "0 remaining").
"""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.errors import ProviderError, RateLimited, TransientProviderError
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.gate_core import GateCore


@dataclass(frozen=True, slots=True)
class Succeeded:
    """The request of lease ``lease`` (start number ``seq``) succeeded with ``info`` at
    ``at`` (fleet seconds)."""

    lease: int
    seq: int
    started_at: float  # fleet seconds: starts after it are not all in the figures
    info: RateLimitInfo
    at: float


@dataclass(frozen=True, slots=True)
class Failed:
    """The request of lease ``lease`` failed with ``error`` at ``at`` (fleet seconds)."""

    lease: int
    seq: int
    started_at: float  # fleet seconds
    error: ProviderError
    at: float


@dataclass(frozen=True, slots=True)
class Released:
    """The request of lease ``lease`` was cancelled: its outcome is unknown."""

    lease: int


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The request of lease ``lease`` was never sent: its start is un-counted."""

    lease: int
    started_at: float  # fleet seconds


@dataclass(frozen=True, slots=True)
class Parked:
    """No start before ``until`` (fleet seconds) for ``reason``."""

    until: float
    reason: str


@dataclass(frozen=True, slots=True)
class Sent:
    """The start counted at ``counted`` left only at ``at`` (fleet seconds, both)."""

    counted: float
    at: float


Report = Succeeded | Failed | Released | Abandoned | Parked | Sent


def lease_of(report: Report) -> int | None:
    """The lease a report ends (``None`` for a park or a late send)."""
    return None if isinstance(report, Parked | Sent) else report.lease


def may_hold(report: Report) -> bool:
    """Whether ``report`` may hold every start (a 429's pause, an overload's wait, a park):
    permits handed out before it are checked again before their requests leave."""
    if isinstance(report, Parked):
        return True
    if not isinstance(report, Failed):
        return False
    error = report.error
    if isinstance(error, RateLimited):
        return True
    overload = isinstance(error, TransientProviderError) and error.overload
    return overload and error.retry_after is not None


def apply(core: GateCore, report: Report, now: float) -> None:
    """Teach ``core`` what ``report`` says, at fleet time ``now`` (an answer: when it came)."""
    match report:
        case Succeeded(seq=seq, started_at=started_at, info=info, at=at):
            core.succeeded(min(at, now), seq, started_at, info)
        case Failed(seq=seq, started_at=started_at, error=error, at=at):
            core.failed(min(at, now), seq, started_at, error)
        case Released():
            core.released()
        case Abandoned(started_at=started_at):
            core.abandoned(started_at)
        case Parked(until=until, reason=reason):
            core.park(until, reason)
        case Sent(counted=counted, at=at):
            core.sent_late(counted, at)
