"""``clock.unless``: a wait given up when a check says so, on the injected clock."""

from __future__ import annotations

import asyncio

from slidebatch.scheduler.clock import unless
from slidebatch.testing.clock import FakeClock


async def _settle() -> None:
    """Let the tasks just made take their first steps (their sleeps begin)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_work_is_cancelled_at_the_first_tick_that_gives_up() -> None:
    """The check says no at 1 s and yes at 2 s: the work is cancelled at 2 s (its own
    cleanup runs) and handed back cancelled; nothing is left over."""
    clock = FakeClock(autojump=False)
    cleaned: list[float] = []
    left: list[object] = []

    async def work() -> str:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append(clock.now())
        return "never"

    waiting = asyncio.ensure_future(
        unless(work(), lambda: clock.now() >= 2.0, clock=clock, every=1.0, left=left.append)
    )
    for _ in range(2):
        await _settle()
        clock.advance(1.0)
    done = await asyncio.wait_for(waiting, 1)
    assert done.cancelled()
    assert cleaned == [2.0]
    assert left == []


async def test_work_that_ends_first_is_returned_with_its_result() -> None:
    """The work ends before any tick gives up: its result is handed back."""
    clock = FakeClock(autojump=False)

    async def work() -> str:
        await clock.sleep(0.5)
        return "permit"

    waiting = asyncio.ensure_future(
        unless(work(), lambda: True, clock=clock, every=1.0, left=lambda _: None)
    )
    await _settle()
    clock.advance(0.5)
    done = await asyncio.wait_for(waiting, 1)
    assert done.result() == "permit"


async def test_cancelled_while_waiting_hands_a_late_result_to_left() -> None:
    """Cancelled itself in the turn the work got its result: the work is done all the same,
    and ``left`` receives it to give it back."""
    clock = FakeClock(autojump=False)
    granted = asyncio.Event()
    left: list[asyncio.Future[str]] = []

    async def work() -> str:
        await granted.wait()
        return "permit"

    waiting = asyncio.ensure_future(
        unless(work(), lambda: False, clock=clock, every=1.0, left=left.append)
    )
    await _settle()
    granted.set()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await _settle()
    assert [future.result() for future in left] == ["permit"]
