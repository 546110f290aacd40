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
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from tests.fleet.fleet_batches import stored_batch
from tests.fleet.test_fleet_worker import gate_stats

from slidebatch.core.aspect import ImageSize
from slidebatch.errors import QuotaExhausted
from slidebatch.fleet import worker as worker_module
from slidebatch.fleet.attempt import AttemptParts
from slidebatch.fleet.metrics import FleetMetrics
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
    parts = AttemptParts(
        store=store,
        provider=provider,
        gate=gate,
        policy=RetryPolicy(1, 0, 2.0, 60.0, random.Random(7), quota_recheck=900.0),
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
