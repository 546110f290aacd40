"""What the gate knows about the upstream right now, as the figures estimates are made from."""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.core.estimate import UpstreamFigures
from slidebatch.scheduler.rate_gate import RateGate


@dataclass(frozen=True, slots=True)
class GateFigures:
    """Effective rate and window from ``gate``; latency measured, or ``assumed_latency``."""

    gate: RateGate
    assumed_latency: float

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
        )
