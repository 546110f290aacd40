"""Time, injected: production uses the event loop's monotonic clock; tests use ``FakeClock``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Monotonic seconds and a way to wait for them."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real monotonic clock."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def first_of(*awaitables: Awaitable[object]) -> None:
    """Wait until the first of ``awaitables`` is done (a clock's sleep, an event); cancel the rest.

    The gate and the dispatcher wait this way for "the time comes or something changes".
    """
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def unless(
    work: Awaitable[T],
    give_up: Callable[[], bool],
    *,
    clock: Clock,
    every: float,
    left: Callable[[asyncio.Future[T]], object],
) -> asyncio.Future[T]:
    """Await ``work`` (as a task), asking ``give_up()`` every ``every`` seconds of ``clock``
    while it runs; when it says yes, ``work`` is cancelled. Returns ``work`` done:
    ``cancelled()`` when it was given up, else its result or error.

    Cancelled itself, it cancels ``work`` without waiting for it: ``left`` is called with it
    once it is done, to give back what it got all the same (a permit handed out in the same
    loop turn). A fleet worker's claim stops waiting for a permit, or for its ``confirm``,
    this way when the gate's start or park goes far.
    """
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            ticking = asyncio.ensure_future(clock.sleep(every))
            try:
                await asyncio.wait({task, ticking}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ticking.cancel()
            if not task.done() and give_up():
                task.cancel()  # what it held is given back by its own cancellation
                await asyncio.wait({task})
    except BaseException:
        task.cancel()
        task.add_done_callback(left)
        raise
    return task
