"""The fleet gate's rounds under latency: a start is counted at the instant it is sent (real
PostgreSQL; one ``FakeClock`` is the worker's clock and the fleet's)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fleet_gates import HeldGate
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from slidebatch.errors import RateLimited
from slidebatch.fleet import gate_reports
from slidebatch.fleet.pg_gate import _Round
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.testing.clock import FakeClock

pytestmark = pytest.mark.postgres

# Real seconds of an idle loop before virtual time jumps to the next sleeper. The rounds'
# own latency is not slept but added to the clock (``_SlowGate``), and a round with the
# database holds the clock (``HeldGate``), so only the gate's waits are jumped over.
_IDLE = 0.25


class _SlowGate(HeldGate):
    """A gate whose every round takes ``slow`` seconds between the lock and the commit, as
    under a loaded database: the clock is read at the lock, the permits leave after."""

    slow = 0.0
    before_round = 0.0  # seconds a round waits before it reads the clock (the lock, a queue)
    rounds = 0
    slow_grants: list[float]  # seconds each of the next rounds that start something take
    fake_clock: FakeClock  # the gate's clock: a round's latency moves it
    stall_flush: asyncio.Event | None = None  # a round that starts nothing waits for it...
    flush_stalled: asyncio.Event | None = None  # ...once it has taken the queued reports
    hold_heard: asyncio.Event | None = None  # set when another worker's hold NOTIFY comes

    def _hold_notified(self, connection: object, pid: int, channel: str, payload: str) -> None:
        super()._hold_notified(connection, pid, channel, payload)
        if self.hold_heard is not None:
            self.hold_heard.set()

    async def _decide(
        self,
        connection: AsyncConnection,
        reports: list[gate_reports.Report],
        *,
        want: int,
        **more: Any,
    ) -> _Round:
        flush = want == 0 and more.get("leaving") is None  # the background flush's round
        if flush and self.stall_flush is not None and self.flush_stalled is not None:
            self.flush_stalled.set()  # as if its lock or its connection were slow to come
            self.fake_clock.release()  # stalled: time may pass meanwhile (the round's hold)
            try:
                await self.stall_flush.wait()
            finally:
                self.fake_clock.hold()
        self.fake_clock.advance(self.before_round)
        decided = await super()._decide(connection, reports, want=want, **more)
        self.rounds += 1
        extra = self.slow_grants.pop(0) if decided.permits and self.slow_grants else 0.0
        self.fake_clock.advance(self.slow + extra)
        return decided


@asynccontextmanager
async def _gate(
    url: str,
    config: GateConfig,
    clock: FakeClock,
    *,
    scope: str | None = None,
    lease_seconds: float = 600.0,
) -> AsyncIterator[_SlowGate]:
    engine = create_async_engine(url, pool_size=3)
    gate = _SlowGate(
        engine,
        scope or f"test-{secrets.token_hex(4)}",
        config,
        clock=clock,
        fleet_clock=clock,
        lease_seconds=lease_seconds,
        holder="worker-0",
        log=None,
    )
    gate.slow_grants = []
    gate.fake_clock = clock
    try:
        await gate._open()
        yield gate
    finally:
        await gate.aclose()
        await engine.dispose()


async def test_a_slow_round_still_sends_at_the_instant_its_start_counts(
    fleet_database: str,
) -> None:
    """Rounds of 0.5 s: once measured, a waiter begins its round a lead early and is handed
    the permit at the very instant the window counts its start (the slot's free instant),
    so neither the upstream sees it late nor the next window drifts by the round."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=2, window=60.0, margin=0.1)
    async with _gate(fleet_database, config, clock) as gate:
        gate.slow = 0.5
        handed: list[tuple[float, float]] = []  # (start counted, handed out), fleet = local
        for _ in range(8):
            permit = await gate.acquire()
            handed.append((permit.started_at, clock.now()))
            permit.success()
    # The first window's rounds measure the latency; later starts are handed out on time.
    assert all(out == at for at, out in handed[2:]), handed
    starts = [at for at, _ in handed]
    # No drift: each start is exactly a window (plus the margin) after the one two before.
    assert [round(b - a, 6) for a, b in zip(starts[2:], starts[4:], strict=False)] == [60.1] * 4


async def test_a_round_is_three_statements_even_when_it_notifies(fleet_database: str) -> None:
    """Lock, leases, and one statement that writes the leases, the state and the NOTIFY."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=10, window=60.0, max_in_flight=1)
    async with _gate(fleet_database, config, clock) as gate:
        permit = await gate.acquire()
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        engine: AsyncEngine = gate.engine
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            permit.success()  # frees the full cap's only slot: the round notifies
            await gate.flush()
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert len(statements) == 3, statements
        assert "pg_notify" in statements[-1]


async def test_a_full_cap_waits_for_the_lease_to_expire_without_extra_rounds(
    fleet_database: str,
) -> None:
    """The lead is for starts the window allows: a waiter on a full cap sleeps until the
    holder's lease expires (no round a lead early that would find it still live, again and
    again), then starts at that instant."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=100, window=60.0, max_in_flight=1)
    scope = f"test-{secrets.token_hex(4)}"
    async with (
        _gate(fleet_database, config, clock, scope=scope, lease_seconds=6.0) as a,
        _gate(fleet_database, config, clock, scope=scope, lease_seconds=6.0) as b,
    ):
        b.slow = 0.1
        b.park(clock.now(), "a round to measure")
        await b.flush()  # a round of 0.1 s: a lead of 0.2 s
        held = await a.acquire()
        await a.aclose()  # A vanishes: its lease ends 6 s after its start
        rounds = b.rounds
        permit = await b.acquire()
        assert permit.started_at == held.started_at + 6.0
        assert b.rounds - rounds == 2  # one finds the cap full, one at the expiry
        permit.success()


async def test_a_permit_handed_out_late_holds_its_slot_from_when_it_left(
    fleet_database: str,
) -> None:
    """A round slower than its lead hands a permit out 1 s after its planned instant: the
    window counts that start when it left, so the next start in its slot comes a window
    after that, not a window after the plan (which the upstream would refuse)."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=2, window=10.0, margin=0.1)
    async with _gate(fleet_database, config, clock) as gate:
        gate.slow_grants = [1.0]
        counted: list[float] = []
        handed: list[float] = []
        for _ in range(4):
            permit = await gate.acquire()
            handed.append(clock.now())
            counted.append(permit.started_at)
            permit.success()
    assert handed[0] == 1.0
    assert all(b - a >= 10.1 for a, b in zip(handed, handed[2:], strict=False)), handed
    assert counted == handed


async def test_a_request_sent_after_a_check_holds_its_slot_from_when_it_left(
    fleet_database: str,
) -> None:
    """A permit handed out on time whose request leaves 1 s later (the claim's check in
    between): the window counts it from when it left, so the next start in its slot comes
    at 11.1 s, not 10.1 s (0.9 s before the upstream frees it)."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=2, window=10.0, margin=0.1)
    async with _gate(fleet_database, config, clock) as gate:
        first = await gate.acquire()
        second = await gate.acquire()
        await clock.sleep(1.0)  # the claim's check
        first.sent()
        second.sent()
        first.success()
        second.success()
        third = await gate.acquire()
        assert third.started_at == pytest.approx(11.1)
        third.success()


async def test_an_answer_is_applied_at_the_time_it_came(fleet_database: str) -> None:
    """ "None remaining, the window resets in 9 s", answered at 1 s and written by a round
    2 s later, pauses the fleet until 10 s and confirms the 10 s window: the next start is
    at 10.1 s (not 12.1 s, a window stretched by the round's delay)."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=2, window=10.0, margin=0.1)
    async with _gate(fleet_database, config, clock) as gate:
        first = await gate.acquire()
        second = await gate.acquire()
        await clock.sleep(1.0)
        gate.before_round = 2.0
        info = RateLimitInfo(limit=2, remaining=0, reset_after=9.0)
        first.success(info)
        second.success(info)
        await gate.flush()
        gate.before_round = 0.0
        third = await gate.acquire()
        assert third.started_at == pytest.approx(10.1)
        assert gate.stats().window == 10.0
        third.success()


async def test_a_waiters_round_decides_with_the_reports_a_stalled_flush_took(
    fleet_database: str,
) -> None:
    """One start per 10 s: the first, counted at 0, leaves 1 s late and is reported as sent
    then (``sent()``, queued); the background flush takes that report and stalls. A
    waiter's round of the same process at 10.5 s decides with it: the next start is at
    11.1 s, a window after the first left (at 10.5 s the upstream would see two starts
    9.5 s apart)."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=1, window=10.0, margin=0.1)
    async with _gate(fleet_database, config, clock) as gate:
        gate.stall_flush, gate.flush_stalled = asyncio.Event(), asyncio.Event()
        late = await gate.acquire()
        clock.advance(1.0)
        late.sent()  # left at 1 s: a Sent report is queued
        assert late.started_at == 1.0
        await asyncio.wait_for(gate.flush_stalled.wait(), timeout=UNTIL_HUNG)
        clock.advance(9.5)
        waiter = asyncio.ensure_future(gate.acquire())
        # Real time for the waiter's round to run (without taking turns it decides now),
        # shorter than the idle time after which virtual time would jump ahead of it.
        await asyncio.sleep(_IDLE / 3)
        gate.stall_flush.set()
        permit = await asyncio.wait_for(waiter, timeout=UNTIL_HUNG)
        assert permit.started_at == pytest.approx(11.1)
        late.success()
        permit.success()


async def test_a_late_start_is_in_the_database_before_its_request_leaves(
    fleet_database: str,
) -> None:
    """One start per 10 s. Worker A's round takes 1 s, longer than its lead: its permit,
    counted at 0, is handed out at 1 s, and A's background flush stalls. The start is
    counted again from 1 s under the row lock before the permit is handed out, so worker
    B's start in that slot comes at 11.1 s; from a report still queued in A, B took the
    slot at 10.1 s, 9.1 s after A's request at the upstream."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=1, window=10.0, margin=0.1)
    scope = f"test-{secrets.token_hex(4)}"
    async with (
        _gate(fleet_database, config, clock, scope=scope) as a,
        _gate(fleet_database, config, clock, scope=scope) as b,
    ):
        a.slow_grants = [1.0]
        a.stall_flush, a.flush_stalled = asyncio.Event(), asyncio.Event()
        late = await a.acquire()
        try:
            permit = await b.acquire()
        finally:
            a.stall_flush.set()
        assert late.started_at == 1.0
        assert permit.started_at == pytest.approx(11.1)
        late.success()
        permit.success()


async def test_a_request_checked_late_is_in_the_database_before_it_leaves(
    fleet_database: str,
) -> None:
    """Worker A's permit of 0 s leaves after a 1 s check (``confirm``) while A's background
    flush stalls: its start is written as 1 s before it leaves, so worker B's start in that
    slot comes at 11.1 s (from a report still queued in A: at 10.1 s)."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=1, window=10.0, margin=0.1)
    scope = f"test-{secrets.token_hex(4)}"
    async with (
        _gate(fleet_database, config, clock, scope=scope) as a,
        _gate(fleet_database, config, clock, scope=scope) as b,
    ):
        first = await a.acquire()
        a.stall_flush, a.flush_stalled = asyncio.Event(), asyncio.Event()
        await clock.sleep(1.0)  # the claim's check
        try:
            await asyncio.wait_for(first.confirm(), timeout=UNTIL_HUNG)
            second = await b.acquire()
        finally:
            a.stall_flush.set()
        assert first.started_at == 1.0
        assert second.started_at == pytest.approx(11.1)
        first.success()
        second.success()


async def test_a_429_of_this_worker_holds_a_permit_not_yet_sent(fleet_database: str) -> None:
    """Two permits at 0; the first's request is refused at 1 s (wait 30 s) before the
    second's leaves: the second's start is given back and granted again at 31 s."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=10, window=60.0)
    async with _gate(fleet_database, config, clock) as gate:
        first, second = await asyncio.gather(gate.acquire(), gate.acquire())
        await clock.sleep(1.0)
        first.failure(RateLimited("429", retry_after=30.0))
        await second.confirm()
        assert second.started_at == pytest.approx(31.0)
        assert gate.stats().requests_total == 2  # the given-back start is not counted
        second.success()


async def test_a_429_of_another_worker_holds_a_permit_not_yet_sent(fleet_database: str) -> None:
    """Worker A's request is refused at 1 s (wait 30 s) and written; worker B hears of it
    (``NOTIFY``) before its permit of 0 s leaves: B's start is decided again, at 31 s."""
    clock = FakeClock(autojump_threshold=_IDLE)
    config = GateConfig(rate=10, window=60.0)
    scope = f"test-{secrets.token_hex(4)}"
    async with (
        _gate(fleet_database, config, clock, scope=scope) as a,
        _gate(fleet_database, config, clock, scope=scope) as b,
    ):
        refused, waiting = await asyncio.gather(a.acquire(), b.acquire())
        await clock.sleep(1.0)
        b.hold_heard = asyncio.Event()
        refused.failure(RateLimited("429", retry_after=30.0))
        await a.flush()
        # The NOTIFY's way to B (real time, a moment).
        await asyncio.wait_for(b.hold_heard.wait(), timeout=UNTIL_HUNG)
        await waiting.confirm()
        assert waiting.started_at == pytest.approx(31.0)
        waiting.success()


UNTIL_HUNG = 120.0  # real seconds only a hung gate waits
