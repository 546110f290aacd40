"""Saves of results in hand: not cancelled with their caller; drained on stop, bounded."""

from __future__ import annotations

import asyncio

import pytest

from slidebatch.scheduler.saves import Saves
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.memory_log import MemoryLog


@pytest.mark.asyncio
async def test_cancelling_the_caller_leaves_the_save_running_and_drain_waits_for_it() -> None:
    log = MemoryLog()
    saves = Saves(log, FakeClock(autojump=False), deadline=5.0)
    started = asyncio.Event()
    release = asyncio.Event()
    stored: list[str] = []

    async def save() -> None:
        started.set()
        await release.wait()
        stored.append("image")

    caller = asyncio.create_task(saves.run(save()))
    await started.wait()
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    assert caller.cancelled()
    assert len(saves) == 1
    assert not stored

    drain = asyncio.create_task(saves.drain("dispatcher"))
    await asyncio.sleep(0)
    assert not drain.done()  # waits for the save, not the deadline (the clock never moves)
    release.set()
    await drain
    assert stored == ["image"]
    assert not log.named("shutdown_saves_abandoned")


@pytest.mark.asyncio
async def test_a_save_past_the_deadline_is_cancelled_and_logged() -> None:
    log = MemoryLog()
    clock = FakeClock()  # autojump: the deadline passes as soon as everything waits
    saves = Saves(log, clock, deadline=5.0)
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # a database outage being waited out
        except asyncio.CancelledError:
            cancelled.set()
            raise

    caller = asyncio.create_task(saves.run(stuck()))
    await started.wait()
    await saves.drain("worker-1")
    assert cancelled.is_set()
    assert clock.now() == pytest.approx(5.0)
    (event,) = log.named("shutdown_saves_abandoned")
    assert event.level == "error"
    assert event.fields["details"] == {"owner": "worker-1", "saves": 1, "deadline_s": 5.0}
    await asyncio.gather(caller, return_exceptions=True)
    assert caller.cancelled()
