"""Event-loop lag: how late the loop wakes a task that asked to sleep ``interval`` seconds.

Every request, SSE stream and dispatch waits on the one event loop; CPU work left on it
(encoding a large answer, a slow query's Python side) shows up here first. The monitor
sleeps ``interval`` again and again and records how much longer each sleep took.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from slidebatch.scheduler.clock import Clock

Observe = Callable[[float], None]


async def watch_loop_lag(clock: Clock, observe: Observe, *, interval: float = 0.05) -> None:
    """Until cancelled: sleep ``interval`` on ``clock`` and ``observe`` each wake-up's delay."""
    while True:
        asked = clock.now()
        await clock.sleep(interval)
        observe(max(0.0, clock.now() - asked - interval))


def start_loop_lag(clock: Clock, observe: Observe) -> asyncio.Task[None]:
    """The monitor as a task (cancel it to stop)."""
    return asyncio.create_task(watch_loop_lag(clock, observe), name="loop-lag")
