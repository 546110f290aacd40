"""The event-loop lag monitor and its metric."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from slidebatch.observability.loop_lag import watch_loop_lag
from slidebatch.observability.metrics import Metrics


@dataclass
class LateClock:
    """A clock whose every sleep ends ``late.pop(0)`` seconds after it should."""

    late: list[float]
    t: float = 0.0
    asked: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        if not self.late:
            raise asyncio.CancelledError
        self.asked.append(seconds)
        self.t += seconds + self.late.pop(0)


async def test_lag_is_how_much_later_than_asked_the_loop_woke_up() -> None:
    """Sleeps of 50 ms that end 0, 30 and 5 ms late record those three lags."""
    clock = LateClock([0.0, 0.03, 0.005])
    seen: list[float] = []
    with pytest.raises(asyncio.CancelledError):
        await watch_loop_lag(clock, seen.append, interval=0.05)
    assert seen == pytest.approx([0.0, 0.03, 0.005])
    assert clock.asked == [0.05, 0.05, 0.05]


def test_loop_lag_samples_reach_metrics() -> None:
    """Each sample lands in slidebatch_event_loop_lag_seconds."""
    metrics = Metrics()
    metrics.loop_lag(0.004)
    body, _ = metrics.render()
    assert b"slidebatch_event_loop_lag_seconds_count 1.0" in body
