"""``FakeClock``: virtual time for asyncio tests and simulations.

Sleeping on a ``FakeClock`` parks the task on a heap of deadlines; time moves only by
``advance()`` or, in autojump mode, by itself: whenever every task of the event loop is
blocked and someone sleeps on this clock, the clock jumps to the earliest deadline (like
trio's ``MockClock(autojump_threshold=0)``). A dispatcher run of hours of virtual time then
takes milliseconds and is deterministic.

"Every task is blocked" is read from the default asyncio loop's ready queue. A test that
also waits on threads or sockets (aiosqlite, httpx on loopback) should pass
``autojump_threshold`` > 0: the clock then only jumps after the loop stayed idle that many
real seconds, so a thread that is still working is not overtaken by virtual time.

Work the loop cannot see at all, however long it takes in real time (a round trip to a
database whose answer decides what the sleepers do next), is announced with ``hold()`` /
``release()`` (or ``with clock.holding():``): while held, time does not jump, so a test's
virtual times do not depend on how loaded the machine is.

Use one autojumping clock per event loop at a time: two clocks with live sleepers would
each see the other's jump task as "work" and neither would ever jump. A clock whose
sleepers are all gone stops its jump task, so clocks used one after another are fine.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

_IDLE_ROUNDS = 3  # consecutive empty-ready-queue observations before a jump
_FALLBACK_ROUNDS = 64  # loops without a visible ready queue (uvloop): yield this often


@dataclass(order=True)
class _Sleeper:
    deadline: float
    seq: int
    future: asyncio.Future[None] = field(compare=False)


class FakeClock:
    """A ``scheduler.clock.Clock`` whose time moves only when told to (or by autojump)."""

    def __init__(
        self, start: float = 0.0, *, autojump: bool = True, autojump_threshold: float = 0.0
    ) -> None:
        self._now = start
        self._autojump = autojump
        self._threshold = autojump_threshold
        self._sleepers: list[_Sleeper] = []
        self._seq = 0
        self._jumper: asyncio.Task[None] | None = None
        self._holds = 0
        self._released = asyncio.Event()  # no hold left: the jumper may look again
        self._released.set()

    def now(self) -> float:
        """Virtual seconds."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the virtual clock reaches now + ``seconds``."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, _Sleeper(self._now + seconds, self._seq, future))
        if self._autojump:
            self._ensure_jumper(loop)
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds
        self._wake_due()

    def hold(self) -> None:
        """Work the loop cannot see is under way: no autojump until ``release()``."""
        self._holds += 1
        self._released.clear()

    def release(self) -> None:
        """One ``hold`` is over (time may jump again once none is left and the loop idles)."""
        if self._holds <= 0:
            raise RuntimeError("release() without hold()")
        self._holds -= 1
        if self._holds == 0:
            self._released.set()

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """``hold()`` for the block's duration."""
        self.hold()
        try:
            yield
        finally:
            self.release()

    def pending_sleepers(self) -> int:
        """How many tasks are waiting on this clock (for assertions)."""
        return sum(1 for s in self._sleepers if not s.future.done())

    # --- internals ---

    def _wake_due(self) -> None:
        while self._sleepers and (
            self._sleepers[0].deadline <= self._now or self._sleepers[0].future.done()
        ):
            sleeper = heapq.heappop(self._sleepers)
            if not sleeper.future.done():
                sleeper.future.set_result(None)

    def _next_deadline(self) -> float | None:
        while self._sleepers and self._sleepers[0].future.done():
            heapq.heappop(self._sleepers)  # cancelled sleepers
        return self._sleepers[0].deadline if self._sleepers else None

    def _ensure_jumper(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._jumper is None or self._jumper.done() or self._jumper.get_loop() is not loop:
            self._jumper = loop.create_task(self._jump_when_idle(), name="fake-clock-autojump")

    async def _jump_when_idle(self) -> None:
        # Runs only while someone sleeps on the clock; sleep() restarts it when needed.
        while True:
            await self._until_idle()
            if self._holds:
                await self._released.wait()
                continue  # quiet again before a jump: the held work's answer may wake someone
            deadline = self._next_deadline()
            if deadline is None:
                return
            self._now = max(self._now, deadline)
            self._wake_due()

    async def _until_idle(self) -> None:
        while True:
            await self._yield_until_quiet()
            if self._threshold <= 0:
                return
            # Give threads and sockets a chance: jump only after the loop stayed quiet
            # (no callbacks, no new sleepers) for the threshold in real time.
            seq = self._seq
            await asyncio.sleep(self._threshold)
            if not await self._yield_until_quiet() and seq == self._seq:
                return

    async def _yield_until_quiet(self) -> bool:
        """Yield until no other callback is ready; say whether any was seen."""
        loop = asyncio.get_running_loop()
        ready: deque[object] | None = getattr(loop, "_ready", None)
        if ready is None:
            for _ in range(_FALLBACK_ROUNDS):
                await asyncio.sleep(0)
            return False
        busy = False
        idle = 0
        while idle < _IDLE_ROUNDS:
            await asyncio.sleep(0)
            if self._next_deadline() is None:
                return busy  # nobody waits on this clock any more: stop spinning
            if ready:
                busy = True
                idle = 0
            else:
                idle += 1
        return busy
