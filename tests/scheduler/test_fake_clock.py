"""FakeClock: virtual time that jumps when every task waits on it."""

from __future__ import annotations

import asyncio

from slidebatch.testing.clock import FakeClock


async def test_autojump_wakes_sleepers_in_deadline_order() -> None:
    """Sleepers wake in deadline order at exactly their deadlines."""
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    await asyncio.gather(nap("a", 5.0), nap("b", 2.0), nap("c", 3600.0))
    assert woke == [("b", 2.0), ("a", 5.0), ("c", 3600.0)]


async def test_autojump_waits_for_runnable_tasks() -> None:
    """Time does not move while some task can still run."""
    clock = FakeClock()
    seen: list[float] = []

    async def busy() -> None:
        for _ in range(50):
            seen.append(clock.now())
            await asyncio.sleep(0)

    await asyncio.gather(clock.sleep(10.0), busy())
    assert seen == [0.0] * 50
    assert clock.now() == 10.0


async def test_manual_advance_without_autojump() -> None:
    """With autojump off, only advance() moves time."""
    clock = FakeClock(autojump=False)
    task = asyncio.create_task(clock.sleep(5.0))
    await asyncio.sleep(0)
    clock.advance(4.0)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(1.0)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert task.done()


async def test_cancelled_sleeper_does_not_hold_time() -> None:
    """A cancelled sleep leaves the heap; the next sleeper's deadline rules."""
    clock = FakeClock()
    long = asyncio.create_task(clock.sleep(100.0))
    await asyncio.sleep(0)
    long.cancel()
    await clock.sleep(3.0)
    assert clock.now() == 3.0
    assert clock.pending_sleepers() == 0


async def test_time_stands_still_while_held() -> None:
    """A hold (work the loop cannot see, like a database round trip) keeps time from jumping
    however long it lasts in real time; released, the sleeper wakes at its deadline."""
    clock = FakeClock(autojump_threshold=0.01)
    sleeper = asyncio.ensure_future(clock.sleep(5.0))
    with clock.holding():
        await asyncio.sleep(0.1)  # real time, ten thresholds of an idle loop
        assert (clock.now(), sleeper.done()) == (0.0, False)
    await asyncio.wait_for(sleeper, timeout=10.0)
    assert clock.now() == 5.0
