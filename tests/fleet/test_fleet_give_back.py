"""Claims waiting for the gate while its next start is far are given back, on PostgreSQL.

A worker claims up to ``_AHEAD`` slides before their permits. When the gate says its next
start, a 429 pause or a quota park is more than ``RETURN_AHEAD_S`` away, the claims stop
waiting: each goes back to pending with its attempt not counted (nothing was sent), and the
worker claims nothing until the start is near. A short wait keeps them. The gate is a
stand-in (its ``stats()`` and its opening are the test's); the store is the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fleet_gates import HeldGate, open_held_gate
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.fleet.fleet_batches import stored_batch
from tests.fleet.test_fleet_worker import gate_stats

from slidebatch.core.aspect import ImageSize
from slidebatch.errors import QuotaExhausted
from slidebatch.fleet import gate_reports
from slidebatch.fleet import worker as worker_module
from slidebatch.fleet.attempt import AttemptParts
from slidebatch.fleet.metrics import FleetMetrics
from slidebatch.fleet.pg_gate import PgGate
from slidebatch.fleet.store import Claim, FleetStore, Released
from slidebatch.fleet.worker import FleetWorker, WorkerConfig
from slidebatch.observability.metrics import Metrics
from slidebatch.scheduler.dispatcher import RETURN_AHEAD_S
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.scheduler.rate_gate import GateStats
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.storage.database import Database
from slidebatch.storage.images import ImageStore
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.memory_log import MemoryLog
from slidebatch.testing.scripted_provider import Fail, ScriptedProvider

pytestmark = pytest.mark.postgres

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_AHEAD = worker_module._AHEAD


class _Store(FleetStore):
    """The real store, counting claims and give-backs."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.engine)
        self.claims = 0
        self.given_back: list[Released] = []

    async def claim(self, *args: Any, **kwargs: Any) -> Any:
        claim = await super().claim(*args, **kwargs)
        self.claims += claim is not None
        return claim

    async def give_back(self, claim: Claim, worker: str, *, at: datetime) -> Released:
        released = await super().give_back(claim, worker, at=at)
        self.given_back.append(released)
        return released


class _Gate:
    """Grants once ``open``; ``stats()`` says what ``figures(now)`` returns."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.open = asyncio.Event()
        self.figures = lambda now: gate_stats()

    async def acquire(self) -> str:
        await self.open.wait()
        return "permit"

    def stats(self) -> GateStats:
        return self.figures(self.clock.now())


class _Parts:
    def __init__(self, store: _Store, gate: _Gate, clock: FakeClock) -> None:
        self.store, self.gate, self.clock = store, gate, clock
        self.log = MemoryLog()
        self.fleet_metrics = _Metrics()

    def wall(self) -> datetime:
        return AT


class _Metrics:
    def claimed(self) -> None:
        pass


class _Listener:
    async def run(self) -> None:
        await asyncio.Event().wait()


def _worker(parts: _Parts, sent: list[tuple[int, int]]) -> FleetWorker:
    """A worker whose attempt records the (slide key, attempt) it sends, then fails it."""
    config = WorkerConfig(lease=30.0, poll=1.0, max_concurrent=4, image_size=ImageSize.K1)
    worker = FleetWorker(
        name="w",
        parts=parts,  # type: ignore[arg-type]
        repo=None,  # type: ignore[arg-type]
        config=config,
        dsn="postgresql://unused",
    )
    worker._listener = _Listener()  # type: ignore[assignment]

    async def request(claim: Any) -> object:
        return ("request", claim)

    async def run(claim: Claim, request: object, permit: object) -> bool:
        sent.append((claim.slide.key, claim.slide.attempts))
        await parts.store.failed(claim, message="sent", at=AT)
        return True

    worker._request = request  # type: ignore[method-assign]
    worker._attempt.run = run  # type: ignore[method-assign,assignment]
    return worker


def _attempting_worker(
    db: Database,
    store: FleetStore,
    gate: Any,
    provider: ScriptedProvider,
    policy: RetryPolicy,
    log: MemoryLog,
    clock: FakeClock,
    tmp_path: Path,
) -> FleetWorker:
    """A worker whose attempts are real: ``provider`` answers them through ``gate``."""
    parts = AttemptParts(
        store=store,
        provider=provider,
        gate=gate,
        policy=policy,
        images=ImageStore(tmp_path / "images"),
        log=log,  # type: ignore[arg-type]
        metrics=(metrics := Metrics(CollectorRegistry())),
        fleet_metrics=FleetMetrics(metrics, "w"),
        clock=clock,
        wall=lambda: AT,
        timeout=30.0,
    )
    config = WorkerConfig(lease=30.0, poll=1.0, max_concurrent=4, image_size=ImageSize.K1)
    worker = FleetWorker(
        name="w", parts=parts, repo=db.batches, config=config, dsn="postgresql://unused"
    )
    worker._listener = _Listener()  # type: ignore[assignment]
    return worker


@contextlib.asynccontextmanager
async def _running(worker: FleetWorker) -> AsyncIterator[None]:
    """``worker.run()`` as a task for the block; cancelled after it."""
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _rows(db: Database, batch_id: str) -> list[tuple[str, int]]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT state, attempts FROM slides WHERE batch_id = :b ORDER BY key"),
            {"b": batch_id},
        )
        return [(str(r.state), int(r.attempts)) for r in rows]


async def _until(check: Any, *, turns: int = 500) -> None:
    """Let the loop run (the database's answers take real time) until ``check()`` holds."""
    for _ in range(turns):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never came")


async def _states(db: Database, batch_id: str, state: str, count: int) -> bool:
    return sum(s == state for s, _ in await _rows(db, batch_id)) == count


@pytest.mark.parametrize("hold", ["park", "pause"])
async def test_claims_waiting_through_a_park_or_pause_go_back_and_are_sent_once(
    db: Database, hold: str
) -> None:
    """Four claims wait for a closed gate; a park (an hour) or a 429 pause (30 s) comes:
    within a tick they are pending again with attempts 0, nothing was sent, and no slide is
    claimed again while it lasts; after it every slide is sent once, as attempt 1."""
    store, clock = _Store(db), FakeClock(autojump=False)
    gate = _Gate(clock)
    batch_id = await stored_batch(db, 6)
    await store.admit(10, at=AT)
    sent: list[tuple[int, int]] = []
    worker = _worker(_Parts(store, gate, clock), sent)
    async with _running(worker):
        await _until(lambda: _states(db, batch_id, "generating", _AHEAD))
        until = clock.now() + (3600.0 if hold == "park" else 30.0)
        field = "parked_until" if hold == "park" else "paused_until"
        gate.figures = lambda now: gate_stats(**{field: until})
        clock.advance(RETURN_AHEAD_S)  # the waiting claims look at the gate again
        await _until(lambda: _states(db, batch_id, "pending", 6))
        assert await _rows(db, batch_id) == [("pending", 0)] * 6
        assert [len(r.slides) for r in store.given_back] == [1] * _AHEAD
        logged = [e.name for e in worker._p.log.events]  # type: ignore[attr-defined]
        assert "slide_returned" in logged
        for _ in range(5):  # a few more ticks, and wake-ups (the give-backs' NOTIFY)
            worker._wake.set()
            clock.advance(RETURN_AHEAD_S)
            await asyncio.sleep(0.05)
        assert store.claims == _AHEAD  # nothing claimed again while held
        assert sent == []
        clock.advance(until - clock.now())
        gate.figures = lambda now: gate_stats()
        gate.open.set()
        await _until(lambda: _states(db, batch_id, "error", 6))
        assert sorted(sent) == [(key, 1) for key in range(6)]


async def test_a_short_wait_keeps_the_claims(db: Database) -> None:
    """The gate's next start stays half a second away (a slot about to free): the claims
    keep waiting, none is given back, and each slide is sent once when it opens."""
    store, clock = _Store(db), FakeClock(autojump=False)
    gate = _Gate(clock)
    gate.figures = lambda now: gate_stats(next_start=now + RETURN_AHEAD_S / 2)
    batch_id = await stored_batch(db, 5)
    await store.admit(10, at=AT)
    sent: list[tuple[int, int]] = []
    worker = _worker(_Parts(store, gate, clock), sent)
    async with _running(worker):
        await _until(lambda: _states(db, batch_id, "generating", _AHEAD))
        for _ in range(5):
            clock.advance(RETURN_AHEAD_S)
            await asyncio.sleep(0.05)
        assert store.given_back == []
        assert await _states(db, batch_id, "generating", _AHEAD)
        gate.open.set()
        await _until(lambda: _states(db, batch_id, "error", 5))
        assert sorted(sent) == [(key, 1) for key in range(5)]
        assert store.claims == 5


class _CheckMeetsPark(_Store):
    """The real store; slide 1's ``still_wanted`` (the check between its permit and its
    ``confirm``) answers only once ``parked`` is set: another request's spent quota parked
    the gate while the check ran."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.parked = asyncio.Event()

    async def still_wanted(self, claim: Claim, *, at: datetime) -> Any:
        wanted = await super().still_wanted(claim, at=at)
        if claim.slide.key == 1 and not self.parked.is_set():
            await self.parked.wait()
        return wanted


class _ParkTellingGate(Gate):
    def __init__(self, store: _CheckMeetsPark, clock: FakeClock) -> None:
        super().__init__(GateConfig(max_in_flight=2), clock=clock)
        self.store = store

    def park(self, until: float, reason: str) -> None:
        super().park(until, reason)
        self.store.parked.set()


async def test_a_permit_whose_confirm_meets_a_park_gives_its_claim_back(
    db: Database, tmp_path: Path
) -> None:
    """Two claims get permits at 0; slide 0 is sent and its spent quota parks the gate for
    900 s while slide 1's check before ``confirm`` runs. Slide 1 goes back to pending with
    its attempt not counted (not held 'generating' in ``confirm`` until the park ends, its
    lease renewed by the heartbeat), its permit given back (the gate counts no start for
    it), and nothing more is sent during the park; after it slide 1 is sent once, as
    attempt 1, and stored done."""
    store, clock = _CheckMeetsPark(db), FakeClock(autojump=False)
    gate = _ParkTellingGate(store, clock)
    empty = QuotaExhausted("no credits", reset_at=None, no_credits=True)
    provider = ScriptedProvider(clock, default_latency=0.0, script={"s0": [Fail(empty)]})
    log = MemoryLog()
    policy = RetryPolicy(1, 0, 2.0, 60.0, random.Random(7), quota_recheck=900.0)
    worker = _attempting_worker(db, store, gate, provider, policy, log, clock, tmp_path)
    batch_id = await stored_batch(db, 2)
    await store.admit(10, at=AT)
    async with _running(worker):
        await asyncio.wait_for(store.parked.wait(), 5)
        await _until(lambda: _states(db, batch_id, "pending", 2))
        waiting, returned_row = await _rows(db, batch_id)  # slide 0 waits out its quota
        assert returned_row == ("pending", 0)  # slide 1's attempt not counted
        assert [c.slide_id for c in provider.calls] == ["s0"]
        stats = gate.stats()
        assert (stats.in_flight, stats.starts_in_window) == (0, 1)  # slide 0's start only
        returned = [e.fields["details"]["slide_key"] for e in log.named("slide_returned")]
        assert returned == [1]
        for _ in range(5):  # ticks and wake-ups during the park: nothing claimed or sent
            worker._wake.set()
            clock.advance(RETURN_AHEAD_S)
            await asyncio.sleep(0.05)
        assert store.claims == 2
        assert len(provider.calls) == 1
        clock.advance(900.0 - clock.now())
        await _until(lambda: _states(db, batch_id, "done", 1))
        assert await _rows(db, batch_id) == [waiting, ("done", 1)]
        assert [c.slide_id for c in provider.calls] == ["s0", "s1"]
        assert provider.calls[1].started >= 900.0


class _CheckWaits(_Store):
    """The real store; the first ``still_wanted`` (the check between a permit and its
    ``confirm``) says it has begun (``checking``) and answers once ``answer`` is set."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.checking, self.answer = asyncio.Event(), asyncio.Event()

    async def still_wanted(self, claim: Claim, *, at: datetime) -> Any:
        wanted = await super().still_wanted(claim, at=at)
        self.checking.set()
        await self.answer.wait()
        return wanted


class _ListeningGate(HeldGate):
    """A fleet gate that says when another worker's hold reached it (``NOTIFY``) and keeps
    the reports its permits made."""

    hold_heard: asyncio.Event
    reports: list[gate_reports.Report]

    def _hold_notified(self, connection: object, pid: int, channel: str, payload: str) -> None:
        super()._hold_notified(connection, pid, channel, payload)
        self.hold_heard.set()

    def report(self, report: gate_reports.Report) -> None:
        self.reports.append(report)
        super().report(report)


@contextlib.asynccontextmanager
async def _fleet_gates(url: str, clock: FakeClock) -> AsyncIterator[tuple[PgGate, _ListeningGate]]:
    """Two fleet gates on one new scope, each on its own engine: another worker's, and
    this worker's (``_ListeningGate``); ``clock`` is both workers' clock and the fleet's."""
    scope = f"test-{secrets.token_hex(4)}"
    config = GateConfig(rate=10, window=60.0)
    engines = [create_async_engine(url, pool_size=3) for _ in range(2)]
    gates: list[PgGate] = []
    try:
        other = await open_held_gate(
            engines[0], scope, config, clock=clock, fleet_clock=clock, lease_seconds=600.0
        )
        gates.append(other)
        ours = _ListeningGate(
            engines[1],
            scope,
            config,
            clock=clock,
            fleet_clock=clock,
            lease_seconds=600.0,
            holder="worker-1",
            log=None,
        )
        ours.hold_heard, ours.reports = asyncio.Event(), []
        await ours._open()
        gates.append(ours)
        yield other, ours
    finally:
        for gate in gates:
            await gate.aclose()
        for engine in engines:
            await engine.dispose()


async def _leases(db: Database, scope: str) -> int:
    async with db.engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM gate_permits WHERE scope = :s"), {"s": scope}
        )
        return int(count or 0)


async def test_a_confirm_that_hears_of_another_workers_park_gives_its_claim_back(
    db: Database, postgres_url: str, tmp_path: Path
) -> None:
    """Slide 0's permit is handed out at 0 by this worker's fleet gate; while its check
    before ``confirm`` runs, another worker parks the gate for an hour, and this worker hears
    of it only by NOTIFY, after the check (its snapshot shows no park): the confirm's round
    finds the start held. Within a ``RETURN_AHEAD_S`` the confirm stops waiting: slide 0 is
    pending again with its attempt not counted, its start given back exactly once (no
    lease, no start counted in the fleet), and nothing is sent or claimed during the park;
    after it slide 0 is sent once, as attempt 1, and stored done."""
    store, clock = _CheckWaits(db), FakeClock(autojump=False)
    provider = ScriptedProvider(clock, default_latency=0.0)
    log = MemoryLog()
    async with _fleet_gates(postgres_url, clock) as (other, gate):
        policy = RetryPolicy(1, 0, 2.0, 60.0, random.Random(7))
        worker = _attempting_worker(db, store, gate, provider, policy, log, clock, tmp_path)
        batch_id = await stored_batch(db, 1)
        await store.admit(10, at=AT)
        async with _running(worker):
            await asyncio.wait_for(store.checking.wait(), 5)
            other.park(clock.now() + 3600.0, "daily quota spent")
            await other.flush()
            await asyncio.wait_for(gate.hold_heard.wait(), 5)  # the NOTIFY's way (real time)
            assert gate.stats().parked_until is None  # known here only by its next round
            store.answer.set()

            async def confirm_met_the_park() -> bool:
                return gate.stats().parked_until is not None

            await _until(confirm_met_the_park)  # the confirm's round found the start held
            assert await _rows(db, batch_id) == [("generating", 1)]
            clock.advance(RETURN_AHEAD_S)  # the confirm looks at the gate again
            await _until(lambda: _states(db, batch_id, "pending", 1))
            assert await _rows(db, batch_id) == [("pending", 0)]
            returned = [e.fields["details"]["slide_key"] for e in log.named("slide_returned")]
            assert returned == [0]
            await gate.flush()
            abandoned = [r for r in gate.reports if isinstance(r, gate_reports.Abandoned)]
            assert len(abandoned) == 1
            assert await _leases(db, gate.scope) == 0
            await other.refresh()
            stats = other.stats()
            assert (stats.in_flight, stats.starts_in_window, stats.requests_total) == (0, 0, 0)
            for _ in range(5):  # ticks and wake-ups during the park: nothing claimed or sent
                worker._wake.set()
                clock.advance(RETURN_AHEAD_S)
                await asyncio.sleep(0.05)
            assert store.claims == 1
            assert provider.calls == []
            clock.advance(3600.0 - clock.now())
            await _until(lambda: _states(db, batch_id, "done", 1))
            assert await _rows(db, batch_id) == [("done", 1)]
            assert [c.slide_id for c in provider.calls] == ["s0"]
            assert provider.calls[0].started >= 3600.0


class _FirstGate:
    """Grants the first ``acquire`` at once; the others wait until cancelled."""

    def __init__(self) -> None:
        self.granted = 0

    async def acquire(self) -> str:
        if self.granted:
            await asyncio.Event().wait()
        self.granted += 1
        return "permit"

    def stats(self) -> GateStats:
        return gate_stats()


async def test_a_stop_gives_back_the_claims_waiting_for_the_gate_at_once(db: Database) -> None:
    """Four claims: slide 0's request is in flight, three wait for the gate. A stop gives
    the three back at once (pending, attempts 0, ``slide_returned``), not when the request in
    flight ends (until then they stayed 'generating' under the draining worker's lease, and
    a restart's new workers could not claim them); the request in flight finishes within the
    grace and is stored, and the drain counts the three as handed back."""
    store, clock = _Store(db), FakeClock(autojump=False)
    batch_id = await stored_batch(db, 4)
    await store.admit(10, at=AT)
    parts = _Parts(store, _FirstGate(), clock)  # type: ignore[arg-type]
    sent: list[tuple[int, int]] = []
    worker = _worker(parts, sent)
    answered = asyncio.Event()

    async def run(claim: Claim, request: object, permit: object) -> bool:
        sent.append((claim.slide.key, claim.slide.attempts))
        await answered.wait()  # the upstream is slow to answer
        await store.failed(claim, message="sent", at=AT)
        return True

    worker._attempt.run = run  # type: ignore[method-assign]
    async with _running(worker):
        await _until(lambda: _states(db, batch_id, "generating", 4))
        stopping = asyncio.create_task(worker.stop(grace=60.0))
        await _until(lambda: _states(db, batch_id, "pending", 3))
        assert await _rows(db, batch_id) == [("generating", 1)] + [("pending", 0)] * 3
        returned = [e.fields["details"]["slide_key"] for e in parts.log.named("slide_returned")]
        assert sorted(returned) == [1, 2, 3]
        assert not stopping.done()  # the request in flight is still awaited
        answered.set()
        await asyncio.wait_for(stopping, 5)
        assert await _rows(db, batch_id) == [("error", 1)] + [("pending", 0)] * 3
        assert sent == [(0, 1)]
        assert (worker.drained.in_flight, worker.drained.finished) == (1, 1)
        assert worker.drained.released == 3
