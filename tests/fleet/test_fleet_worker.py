"""The fleet worker's loop: a slide is claimed before its start is asked of the gate.

The store, gate and attempt are stand-ins (no database): the test looks only at the order
of the loop's steps, which decides whether a request leaves when the gate counts it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from slidebatch.core.aspect import ImageSize
from slidebatch.fleet import worker as worker_module
from slidebatch.fleet.store import Released
from slidebatch.fleet.worker import FleetWorker, WorkerConfig
from slidebatch.scheduler.rate_gate import GateStats
from slidebatch.testing.clock import FakeClock


class _Store:
    """Hands out ``slides`` claims, then none."""

    def __init__(self, slides: int) -> None:
        self.left = slides
        self.claimed = 0

    async def claimable(self) -> bool:
        return self.left > 0

    async def claim(
        self, worker: str, *, lease: float, at: datetime, unit: object = None
    ) -> object | None:
        if self.left == 0:
            return None
        self.left -= 1
        self.claimed += 1
        return ("claim", self.claimed)

    async def heartbeat(self, *_args: object, **_kwargs: object) -> int:
        return self.claimed

    async def leave(self, worker: str, *, at: datetime) -> Released:
        return Released(())

    async def next_due_in(self) -> float | None:
        return None


class _Gate:
    """Notes how many slides were claimed at each ``acquire``; grants when told."""

    def __init__(self, store: _Store) -> None:
        self.store = store
        self.claimed_at_acquire: list[int] = []
        self.waiting = 0
        self.most_waiting = 0
        self.open = asyncio.Event()

    def stats(self) -> GateStats:
        return gate_stats()  # no pause, no park, no next start known: claims wait

    async def acquire(self) -> str:
        self.claimed_at_acquire.append(self.store.claimed)
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        await self.open.wait()
        self.waiting -= 1
        return "permit"


def gate_stats(
    *,
    next_start: float | None = None,
    paused_until: float | None = None,
    parked_until: float | None = None,
) -> GateStats:
    """A gate's figures with only the times a worker looks at set."""
    return GateStats(
        configured_rate=None,
        effective_rate=None,
        learned_limit=None,
        window=60.0,
        per_day=None,
        starts_in_window=0,
        starts_today=0,
        in_flight=0,
        in_flight_cap=4,
        max_in_flight=4,
        waiting=0,
        paused_until=paused_until,
        requests_total=0,
        rate_limited_total=0,
        overload_total=0,
        latency_p50=None,
        latency_p95=None,
        parked_until=parked_until,
        next_start=next_start,
    )


class _Listener:
    async def run(self) -> None:
        await asyncio.Event().wait()


class _Parts:
    def __init__(self, store: _Store, gate: _Gate) -> None:
        self.store = store
        self.gate = gate
        self.clock = FakeClock(autojump=False)
        self.log = _Log()
        self.fleet_metrics = _Metrics()

    def wall(self) -> datetime:
        return datetime(2026, 11, 30, tzinfo=UTC)


class _Log:
    def event(self, *_args: object, **_kwargs: object) -> None:
        pass

    def failure(self, *_args: object, **_kwargs: object) -> None:
        pass


class _Metrics:
    def claimed(self) -> None:
        pass


def _worker(parts: _Parts, ran: list[tuple[object, object]]) -> FleetWorker:
    config = WorkerConfig(lease=30.0, poll=1.0, max_concurrent=4, image_size=ImageSize.K1)
    worker = FleetWorker(
        name="w",
        parts=parts,
        repo=None,
        config=config,
        dsn="postgresql://unused",  # type: ignore[arg-type]
    )
    worker._listener = _Listener()  # type: ignore[assignment]

    async def request(claim: Any) -> object:
        return ("request", claim)

    async def run(claim: object, request: object, permit: object) -> bool:
        ran.append((claim, permit))
        return True

    worker._request = request  # type: ignore[method-assign]
    worker._attempt.run = run  # type: ignore[method-assign]
    return worker


async def test_slides_are_claimed_before_the_gate_is_asked_and_wait_for_it_together() -> None:
    """Each ``acquire`` comes after its slide's claim; several claims wait at once (one gate
    round can start them all), never more than the worker's ahead limit."""
    store = _Store(slides=10)
    gate = _Gate(store)
    ran: list[tuple[object, object]] = []
    worker = _worker(_Parts(store, gate), ran)
    task = asyncio.create_task(worker.run())
    for _ in range(50):
        await asyncio.sleep(0)
    ahead = worker_module._AHEAD
    assert store.claimed == ahead  # claimed, then held while the gate is closed
    # the n-th acquire came once the n-th slide was held
    assert [n >= i for i, n in enumerate(gate.claimed_at_acquire, 1)] == [True] * ahead
    assert gate.most_waiting == ahead
    assert ran == []
    gate.open.set()
    for _ in range(200):
        await asyncio.sleep(0)
    assert [claim for claim, _ in ran] == [("claim", n) for n in range(1, 11)]
    assert all(permit == "permit" for _, permit in ran)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
