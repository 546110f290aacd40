"""What the gate knows about the upstream right now, as the figures estimates are made from."""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.core.estimate import UpstreamFigures
from slidebatch.scheduler.clock import Clock
from slidebatch.scheduler.rate_gate import GateStats, RateGate


@dataclass(frozen=True, slots=True)
class GateFigures:
    """Effective rate and window from ``gate``; latency measured, or ``assumed_latency``.

    With ``clock``, also how long until the gate's next start and why it holds it.
    """

    gate: RateGate
    assumed_latency: float
    clock: Clock | None = None

    def __call__(self) -> UpstreamFigures:
        stats = self.gate.stats()
        rate = stats.effective_rate
        measured = stats.latency_p50 is not None
        return UpstreamFigures(
            rate=max(1, int(rate)) if rate else None,
            window=stats.window,
            latency=stats.latency_p50 if stats.latency_p50 is not None else self.assumed_latency,
            latency_p95=stats.latency_p95,
            measured=measured,
            next_start_in=self._next_start_in(stats),
            hold=_hold(stats),
            learned=stats.learned_limit is not None or stats.window_learned,
            blocked_for=self._in(stats.blocked_until),
        )

    def _next_start_in(self, stats: GateStats) -> float:
        return self._in(stats.next_start) or 0.0

    def _in(self, at: float | None) -> float | None:
        """Seconds from now until ``at`` (None without a clock or an instant)."""
        if self.clock is None or at is None:
            return None
        return max(0.0, at - self.clock.now())


def _hold(stats: GateStats) -> str | None:
    """Why the gate holds its next start: a park (quota), a block, or the rate limit."""
    if stats.parked_until is not None:
        return "quota"
    if stats.blocked:
        return "blocked"
    return "rate_limit"
