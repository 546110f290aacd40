"""The fleet gate: two workers' gates on one scope behave as one gate (real PostgreSQL).

Each test opens two ``PgGate``s on one scope, each on its own engine (its own connections),
as two worker processes would; one ``FakeClock`` is both workers' clock and the fleet's, so
virtual windows of tens of seconds pass in milliseconds.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fleet_gates import open_held_gate
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from slidebatch.errors import RateLimited
from slidebatch.fleet.pg_gate import PgGate, PgPermit, open_pg_gate
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.testing.clock import FakeClock

pytestmark = pytest.mark.postgres

# Real seconds the loop must stay idle before virtual time jumps. The gates' rounds with the
# database hold the clock (``HeldGate``): time never jumps under one, however slow.
_IDLE = 0.1


def _scope() -> str:
    return f"test-{secrets.token_hex(4)}"


@asynccontextmanager
async def _workers(
    url: str,
    config: GateConfig,
    clock: FakeClock | SystemClock,
    *,
    count: int = 2,
    lease_seconds: float = 15.0,
    fake_fleet_clock: bool = True,
) -> AsyncIterator[list[PgGate]]:
    """``count`` gates on one new scope, each on its own engine (as separate workers)."""
    scope = _scope()
    engines: list[AsyncEngine] = []
    gates: list[PgGate] = []
    try:
        for index in range(count):
            engine = create_async_engine(url, pool_size=3)
            engines.append(engine)
            gate = await open_held_gate(
                engine,
                scope,
                config,
                clock=clock,
                fleet_clock=clock if fake_fleet_clock else None,
                lease_seconds=lease_seconds,
                holder=f"worker-{index}",
            )
            gates.append(gate)
        yield gates
    finally:
        for gate in gates:
            await gate.aclose()
        for engine in engines:
            await engine.dispose()


async def _run(
    gate: PgGate,
    starts: list[float],
    count: int,
    work: Callable[[PgPermit], Coroutine[Any, Any, None]],
) -> None:
    for _ in range(count):
        permit = await gate.acquire()
        starts.append(permit.started_at)
        await work(permit)


async def test_two_workers_never_exceed_the_rate_together(fleet_database: str) -> None:
    """Two workers, three tasks each, 30 starts at 5 per 10 s: never 6 in any window, and
    none later than the window allows (the rounds hold the clock: no load moves it)."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=5, window=10.0)
    left = [30]  # starts still to make: each task asks again until none is left

    async def run(gate: PgGate, starts: list[float]) -> None:
        while left[0] > 0:
            left[0] -= 1
            permit = await gate.acquire()
            starts.append(permit.started_at)
            await clock.sleep(1.5)
            permit.success()

    async with _workers(fleet_database, config, clock) as gates:
        per_gate: list[list[float]] = [[], []]
        tasks = [run(gate, per_gate[i]) for _ in range(3) for i, gate in enumerate(gates)]
        await asyncio.gather(*tasks)
    starts = sorted(per_gate[0] + per_gate[1])
    assert len(starts) == 30
    assert all(per_gate), "both workers started requests"
    # At most 5 in any window of 10 s: the 6th start after any start is a window later.
    assert all(later - first >= 10.0 for first, later in zip(starts, starts[5:], strict=False))
    # And no time lost: five starts each window and its margin, the last five at 50.5 s.
    assert starts == [10.1 * (i // 5) for i in range(30)]


async def test_a_429_seen_by_one_worker_pauses_the_other(fleet_database: str) -> None:
    """A 429 asking for 30 s on worker A holds worker B's next start for those 30 s."""
    clock = FakeClock(autojump_threshold=_IDLE)
    async with _workers(fleet_database, GateConfig(rate=10, window=60.0), clock) as (a, b):
        permit = await a.acquire()
        await clock.sleep(1.0)
        refused_at = clock.now()
        permit.failure(RateLimited("429", retry_after=30.0))
        await a.flush()
        later = await b.acquire()
        assert later.started_at >= refused_at + 30.0
        stats = b.stats()
        assert stats.rate_limited_total == 1
        later.success()


async def test_a_vanished_holders_slot_frees_after_its_lease(fleet_database: str) -> None:
    """A worker that renews keeps its slot; once it stops (killed), it frees after the lease."""
    clock = FakeClock(autojump=False)
    config = GateConfig(rate=100, window=60.0, max_in_flight=1)
    async with _workers(fleet_database, config, clock, lease_seconds=6.0) as (a, b):
        held = await a.acquire()
        waiter = asyncio.ensure_future(b.acquire())
        for _ in range(10):  # 20 s, three leases long: A renews, so B still waits
            clock.advance(2.0)
            await a.renew()
        await _settle()
        assert not waiter.done()
        await a.aclose()  # A is gone without a word: its lease is no longer renewed
        expires = clock.now() + 6.0
        clock.advance(5.0)
        await _settle()
        assert not waiter.done()
        clock.advance(1.0)
        permit = await asyncio.wait_for(waiter, timeout=UNTIL_HUNG)
        assert permit.started_at == expires
        assert b.stats().in_flight == 1  # A's lease no longer counts
        permit.success()
        del held


# An upper bound only a hung gate reaches: on a loaded 2-core machine one round with the
# database has taken seconds, and 10 s made the lease test time out (it passes alone).
UNTIL_HUNG = 120.0


async def _settle() -> None:
    """Let the other worker's round with the database finish (real time, a moment)."""
    await asyncio.sleep(0.3)


async def test_a_freed_slot_wakes_the_other_worker_at_once(fleet_database: str) -> None:
    """With the cap full, B wakes on A's NOTIFY when A's request ends, not at the lease's end."""
    clock = FakeClock(autojump=False)
    config = GateConfig(rate=100, window=60.0, max_in_flight=1)
    async with _workers(fleet_database, config, clock, lease_seconds=600.0) as (a, b):
        held = await a.acquire()
        waiter = asyncio.ensure_future(b.acquire())
        await asyncio.sleep(0.2)  # B has looked and sleeps until the lease ends
        assert not waiter.done()
        held.success()
        permit = await asyncio.wait_for(waiter, timeout=UNTIL_HUNG)
        assert clock.now() == 0.0  # woken by the notification, not by time
        permit.success()


async def test_learned_limit_and_aimd_cut_are_shared(fleet_database: str) -> None:
    """A limit one worker learns, and the cut after a surprise 429, bind the other worker."""
    clock = FakeClock(autojump_threshold=_IDLE)
    async with _workers(fleet_database, GateConfig(rate=None, window=60.0), clock) as (a, b):
        permit = await a.acquire()
        permit.success(RateLimitInfo(limit=8, remaining=7))
        await a.flush()
        first = await b.acquire()
        stats = b.stats()
        assert (stats.learned_limit, stats.effective_rate) == (8, 8.0)
        first.success()
    async with _workers(fleet_database, GateConfig(rate=10, window=10.0), clock) as (a, b):
        permits = [await a.acquire() for _ in range(3)]
        permits[0].failure(RateLimited("429", retry_after=1.0))
        await a.flush()
        permit = await b.acquire()
        assert b.stats().effective_rate == 5.0
        for p in [*permits[1:], permit]:
            p.success()


async def test_park_stops_every_worker(fleet_database: str) -> None:
    """A park told to one worker (a spent quota) holds the other's starts until it ends."""
    clock = FakeClock(autojump_threshold=_IDLE)
    async with _workers(fleet_database, GateConfig(rate=10, window=60.0), clock) as (a, b):
        parked_at = clock.now()
        a.park(parked_at + 100.0, "daily quota spent")
        assert a.stats().park_reason == "daily quota spent"
        await a.flush()
        permit = await b.acquire()
        assert permit.started_at >= parked_at + 100.0
        permit.success()


async def test_a_changed_config_rebuilds_the_state_and_keeps_the_starts(
    fleet_database: str,
) -> None:
    """A worker opened with a new rate rebuilds the scope's state; past starts still count."""
    clock = FakeClock(autojump_threshold=_IDLE)
    scope = _scope()
    engine = create_async_engine(fleet_database, pool_size=3)
    try:
        old = await open_pg_gate(
            engine, scope, GateConfig(rate=3, window=60.0), clock=clock, fleet_clock=clock
        )
        made = []
        for _ in range(3):
            permit = await old.acquire()
            made.append(permit.started_at)
            permit.success()
        await old.aclose()
        new = await open_pg_gate(
            engine, scope, GateConfig(rate=4, window=60.0), clock=clock, fleet_clock=clock
        )
        try:
            assert new.stats().configured_rate == 4
            assert new.stats().starts_in_window == 3
            first = await new.acquire()
            second = await new.acquire()
            assert first.started_at < made[0] + 60.0 <= second.started_at
            first.success()
            second.success()
        finally:
            await new.aclose()
    finally:
        await engine.dispose()


async def test_the_database_clock_keeps_the_window(fleet_database: str) -> None:
    """Without an injected fleet clock the database's clock times the window (0.3 s here)."""
    clock = SystemClock()
    config = GateConfig(rate=2, window=0.3, margin=0.02)
    async with _workers(fleet_database, config, clock, fake_fleet_clock=False) as gates:
        starts: list[float] = []

        async def work(permit: PgPermit) -> None:
            permit.success()

        await asyncio.gather(*(_run(gate, starts, 3, work) for gate in gates))
        async with gates[0].engine.connect() as connection:
            now = float(
                (await connection.execute(text("SELECT extract(epoch FROM now())"))).scalar_one()
            )
    starts.sort()
    assert all(abs(now - at) < 60.0 for at in starts), "fleet seconds are the server's epoch"
    assert all(later - first >= 0.3 for first, later in zip(starts, starts[2:], strict=False))


async def test_another_workers_later_starts_do_not_shrink_the_shared_window(
    fleet_database: str,
) -> None:
    """A's answer, whose figures the upstream wrote at 68 s, is read at 69.9 s after B started
    three more: the fleet's 60 s window stands (matched against every start, it was 9.5 s)."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=20, window=60.0, margin=0.5, max_in_flight=32)
    async with _workers(fleet_database, config, clock) as (a, b):
        held = [await a.acquire() for _ in range(10)]
        for at in (10.0, 11.0, 12.0):
            await clock.sleep(at - clock.now())
            held.append(await b.acquire())
        await clock.sleep(60.5 - clock.now())
        answered = await a.acquire()
        held += [await a.acquire() for _ in range(9)]
        for at in (68.5, 69.0, 69.5):
            await clock.sleep(at - clock.now())
            held.append(await b.acquire())
        await clock.sleep(69.9 - clock.now())
        # Written at 68 s: 13 counted (10, 11, 12 s and ten at 60.5 s); 10 s leaves at 70 s.
        answered.success(RateLimitInfo(limit=20, remaining=7, reset_after=70.0 - clock.now()))
        await a.flush()
        held.append(await b.acquire())  # a round of B's: it reads the fleet's state
        assert b.stats().window == 60.0
        for permit in held:
            permit.success()


class _Events:
    """The gate's log: each event's name and details."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def event(self, name: str, *, level: str = "info", details: dict[str, Any]) -> None:
        self.seen.append((name, details))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [details for seen, details in self.seen if seen == name]


async def test_processes_started_with_other_settings_follow_the_last_opened_one(
    fleet_database: str,
) -> None:
    """Worker A opens with 20 per 60 s, worker B later with 40 per 30 s, then an API
    process with 99 (it sends nothing): B's settings are the fleet's from B's opening on;
    A follows them, warning once with the difference, and none of them writes its own
    again, however many rounds run (before, A and B rewrote the scope's config at each
    other's every round: 700 gate_config_changed lines and 56 429s in one batch)."""
    clock = FakeClock(autojump_threshold=_IDLE)
    scope = _scope()
    engine = create_async_engine(fleet_database, pool_size=6)
    logs = {name: _Events() for name in ("a", "b", "api")}

    async def opened(name: str, rate: int, window: float, *, sends: bool = True) -> PgGate:
        return await open_pg_gate(
            engine,
            scope,
            GateConfig(rate=rate, window=window),
            clock=clock,
            fleet_clock=clock,
            log=logs[name],  # type: ignore[arg-type]
            sets_config=sends,
        )

    a = await opened("a", 20, 60.0)
    b = await opened("b", 40, 30.0)
    api = await opened("api", 99, 60.0, sends=False)
    try:
        for gate in (a, b, a, b, a):
            permit = await gate.acquire()
            permit.success()
            await gate.flush()
        for gate in (a, b, api):
            assert (gate.stats().configured_rate, gate.stats().window) == (40, 30.0)
        assert len(logs["b"].named("gate_config_changed")) == 1  # its opening
        assert not logs["a"].named("gate_config_changed")
        assert not logs["api"].named("gate_config_changed")
        (warning,) = logs["a"].named("gate_config_differs")
        assert warning["differs"]["rate"] == {"here": 20, "fleet": 40}
        assert warning["differs"]["window"] == {"here": 60.0, "fleet": 30.0}
        assert len(logs["api"].named("gate_config_differs")) == 1
        assert not logs["b"].named("gate_config_differs")
    finally:
        for gate in (a, b, api):
            await gate.aclose()
        await engine.dispose()


async def test_a_cancelled_wait_leaves_no_start_behind(fleet_database: str) -> None:
    """A worker gives a claim back by cancelling its ``acquire`` (its start went far): a
    waiter cancelled while the cap is full leaves no slot or lease behind; once the held
    request ends, the next acquire gets the slot at once."""
    clock = FakeClock(autojump=False)
    config = GateConfig(rate=100, window=60.0, max_in_flight=1)
    async with _workers(fleet_database, config, clock, count=1, lease_seconds=600.0) as (a,):
        held = await a.acquire()
        waiter = asyncio.ensure_future(a.acquire())
        await _settle()  # its round found the cap full; it sleeps until a change
        assert not waiter.done()
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        held.success()
        await a.flush()
        permit = await asyncio.wait_for(a.acquire(), timeout=UNTIL_HUNG)
        assert clock.now() == 0.0
        permit.success()
        await a.flush()
        assert a.stats().in_flight == 0
