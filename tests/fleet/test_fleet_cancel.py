"""A cancel (or delete) on a fleet while workers hold claims, on a real PostgreSQL.

- the claims of a batch being cancelled that are given up (the worker was killed and its
  leases expired, or it stopped and handed them back) end cancelled, and the batch ends,
  as a cancel of a batch with no claims does (they used to go back to pending, which no
  worker takes, and the batch stayed running for ever, holding a place);
- a claim that waited for the gate sends nothing once its batch is being cancelled or was
  deleted: the permit is given back and the slide ends cancelled; so does one whose
  permit's confirm waited out a pause during which the batch was cancelled;
- a cancel racing a write that puts a claim back to pending (give-back, a retry's wait, a
  candidates round) still ends the batch, and a worker's sweep ends a batch a cancel left
  running with slides pending;
- every API process's status answers learn of the slides a cancel dropped, and of a batch
  another process cleaned up.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fleet_services import StartFleet
from sqlalchemy import text
from tests.fleet.fleet_batches import stored_batch
from tests.fleet.test_fleet_worker import gate_stats

from slidebatch.config import load_settings
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.errors import NotFound
from slidebatch.fleet import store as store_module
from slidebatch.fleet.attempt import RECHECK_AFTER_S, Attempt, AttemptParts
from slidebatch.fleet.store import Cancelled, Claim, DoneValues, FleetStore
from slidebatch.providers.base import ImageRequest
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.rate_gate import GateStats
from slidebatch.services import FleetRole, Services, build_services
from slidebatch.storage.database import Database
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.scripted_provider import ScriptedProvider

pytestmark = pytest.mark.postgres

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def _cancel(db: Database, store: FleetStore, batch_id: str) -> None:
    """What ``FleetEngine.cancel`` does: the batch cannot end while claims are held."""
    cancelled = await store.cancel(batch_id, at=AT)
    assert cancelled is not None
    assert cancelled.finished is None


async def _states(db: Database, batch_id: str) -> list[SlideState]:
    return [s.state for s in await db.batches.get_slides(batch_id)]


async def _claims(store: FleetStore, worker: str, count: int) -> list[Claim]:
    claims = [await store.claim(worker, lease=30, at=AT) for _ in range(count)]
    assert all(isinstance(c, Claim) for c in claims)
    return claims  # type: ignore[return-value]


async def test_expired_claims_of_a_cancelled_batch_end_it(db: Database) -> None:
    """Cancel, then the worker holding two claims is killed: when its leases expire the
    reaper cancels both slides and ends the batch cancelled, which frees its place (the
    queued batch is admitted); before, both went back to pending and the batch ran on."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 3)
    queued = await stored_batch(db, 1)
    assert [b.id for b in await store.admit(1, at=AT)] == [batch_id]
    await _claims(store, "killed", 2)
    await _cancel(db, store, batch_id)
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE slides SET lease_until = now() - interval '1 s'"))
    reaped = await store.reap(at=AT)
    assert sorted(reaped.cancelled) == [(batch_id, 0), (batch_id, 1)]
    assert [f.batch.id for f in reaped.finished] == [batch_id]
    assert reaped.finished[0].batch.state is BatchState.CANCELLED
    assert await _states(db, batch_id) == [SlideState.CANCELLED] * 3
    batch = await db.batches.get_batch(batch_id)
    assert batch.state is BatchState.CANCELLED
    assert batch.finished_at == AT
    assert [b.id for b in await store.admit(1, at=AT)] == [queued]
    assert await store.reap(at=AT) == type(reaped)(())


async def test_a_worker_stopping_hands_back_a_cancelled_batch_as_ended(db: Database) -> None:
    """SIGTERM: leave() cancels the claims of a batch being cancelled and ends it, while a
    claim of another batch goes back to pending as before."""
    store = FleetStore(db.engine)
    cancelled = await stored_batch(db, 2)
    other = await stored_batch(db, 1)
    await store.admit(10, at=AT)
    claims = await _claims(store, "stopping", 3)
    assert {c.batch.id for c in claims} == {cancelled, other}
    await _cancel(db, store, cancelled)
    released = await store.leave("stopping", at=AT)
    assert len(released.slides) == 3
    assert sorted(released.cancelled) == [(cancelled, 0), (cancelled, 1)]
    assert [f.batch.state for f in released.finished] == [BatchState.CANCELLED]
    assert (await db.batches.get_batch(cancelled)).state is BatchState.CANCELLED
    assert await _states(db, other) == [SlideState.PENDING]
    assert (await db.batches.get_batch(other)).state is BatchState.RUNNING


async def test_a_claim_still_wanted_only_while_its_batch_runs_on(db: Database) -> None:
    """still_wanted: yes for a running batch; after a cancel no, the slide is cancelled, and
    the last one ends the batch; a deleted batch's claim or a claim taken over: no."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 2)
    await store.admit(10, at=AT)
    first, second = await _claims(store, "w", 2)
    assert (await store.still_wanted(first, at=AT)).wanted
    await _cancel(db, store, batch_id)
    answer = await store.still_wanted(first, at=AT)
    assert (answer.wanted, answer.cancelled, answer.finished) == (False, True, None)
    answer = await store.still_wanted(second, at=AT)
    assert (answer.wanted, answer.cancelled) == (False, True)
    assert answer.finished is not None
    assert answer.finished.batch.state is BatchState.CANCELLED
    assert await _states(db, batch_id) == [SlideState.CANCELLED] * 2

    gone = await stored_batch(db, 1)
    await store.admit(10, at=AT)
    (claim,) = await _claims(store, "w", 1)
    await db.batches.delete_batch(gone)
    assert not (await store.still_wanted(claim, at=AT)).wanted

    taken = await stored_batch(db, 1)
    await store.admit(10, at=AT)
    old, new = await _claimed_again(db, store)
    assert not (await store.still_wanted(old, at=AT)).wanted
    assert (await store.still_wanted(new, at=AT)).wanted
    assert taken == new.batch.id


class _Provider:
    name = "counting"
    credential_id = "counting-test"

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, request: ImageRequest) -> Any:
        self.calls += 1
        raise AssertionError("a request left for a batch nobody wants")


class _Permit:
    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def sent(self) -> None:
        self.outcomes.append("sent")

    def abandon(self) -> None:
        self.outcomes.append("abandon")

    def release(self) -> None:
        self.outcomes.append("release")


class _Gate:
    """Neither paused nor parked."""

    def stats(self) -> GateStats:
        return gate_stats()


class _Log:
    def __init__(self) -> None:
        self.events: list[str] = []

    def event(self, name: str, **_fields: object) -> None:
        self.events.append(name)

    def failure(self, name: str, *_args: object, **_fields: object) -> None:
        self.events.append(name)


def _attempt(
    store: FleetStore, provider: _Provider, log: _Log, clock: FakeClock | None = None
) -> Attempt:
    unused: Any = None
    parts = AttemptParts(
        store=store,
        provider=provider,  # type: ignore[arg-type]
        gate=_Gate(),  # type: ignore[arg-type]
        policy=unused,
        images=unused,
        log=log,  # type: ignore[arg-type]
        metrics=unused,
        fleet_metrics=unused,
        clock=clock or FakeClock(),
        wall=lambda: AT,
        timeout=5.0,
    )
    return Attempt(parts)


async def _claimed_again(db: Database, store: FleetStore) -> tuple[Claim, Claim]:
    """One slide claimed by worker "dead", its lease expired and reaped, then claimed by
    "alive": the first claim and the second (its attempt moved on)."""
    (old,) = await _claims(store, "dead", 1)
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE slides SET lease_until = now() - interval '1 s'"))
    await store.reap(at=AT)
    (new,) = await _claims(store, "alive", 1)
    return old, new


def _request(claim: Claim) -> ImageRequest:
    return ImageRequest(claim.slide.final_prompt, claim.slide.slide, "flat", AspectRatio(16, 9))


@pytest.mark.parametrize("how", ["cancel", "delete"])
async def test_a_claim_granted_after_its_batch_stopped_sends_nothing(
    db: Database, how: str
) -> None:
    """Claimed ahead of the gate, then the batch is cancelled (or deleted), then the gate
    grants: no request leaves, the slot goes back (abandon), the slide ends cancelled and
    the cancelled batch ends (before, every claimed slide was still paid for)."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 1)
    await store.admit(10, at=AT)
    (claim,) = await _claims(store, "w", 1)
    if how == "cancel":
        await _cancel(db, store, batch_id)
    else:
        await db.batches.delete_batch(batch_id)
    provider, permit, log = _Provider(), _Permit(), _Log()
    await _attempt(store, provider, log).run(claim, _request(claim), permit)  # type: ignore[arg-type]
    assert provider.calls == 0
    assert permit.outcomes == ["abandon"]
    assert "slide_dropped" in log.events
    if how == "cancel":
        assert await _states(db, batch_id) == [SlideState.CANCELLED]
        assert (await db.batches.get_batch(batch_id)).state is BatchState.CANCELLED
        assert "batch_generate_complete" in log.events


class _Left(BaseException):
    """The request left (raised by ``_SentProvider`` to end the attempt there)."""


class _SentProvider(_Provider):
    async def generate(self, request: ImageRequest) -> Any:
        self.calls += 1
        raise _Left


class _PausedPermit(_Permit):
    """A permit whose confirm waits out a pause (``seconds`` on ``clock``) while ``during``
    runs: another worker's 429 held every start, and the user cancelled meanwhile."""

    def __init__(self, clock: FakeClock, seconds: float, during: Any) -> None:
        super().__init__()
        self._clock, self._seconds, self._during = clock, seconds, during

    async def confirm(self) -> None:
        self.outcomes.append("confirm")
        self._clock.advance(self._seconds)
        during, self._during = self._during, None
        if during is not None:
            await during()


@pytest.mark.parametrize(("paused", "sent"), [(30.0, False), (RECHECK_AFTER_S, True)])
async def test_a_cancel_during_a_long_confirm_sends_nothing(
    db: Database, paused: float, sent: bool
) -> None:
    """The claim was wanted, then its permit's confirm waited out a 30 s pause during which
    the batch was cancelled: the database is asked again, nothing is sent, the slot goes
    back and the slide ends cancelled (before, the request left and was paid for). A
    confirm that returned within RECHECK_AFTER_S is not checked again: it is sent."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 1)
    await store.admit(10, at=AT)
    (claim,) = await _claims(store, "w", 1)
    # Time moves only by the confirm: jumping while the database answers (the confirm's
    # check for a far park ticks on the clock), it made the confirm look late.
    clock = FakeClock(autojump=False)
    provider, log = (_SentProvider() if sent else _Provider()), _Log()
    permit = _PausedPermit(clock, paused, lambda: _cancel(db, store, batch_id))
    attempt = _attempt(store, provider, log, clock)
    if sent:
        with pytest.raises(_Left):
            await attempt.run(claim, _request(claim), permit)  # type: ignore[arg-type]
        assert provider.calls == 1
        assert permit.outcomes == ["confirm"]
        return
    await attempt.run(claim, _request(claim), permit)  # type: ignore[arg-type]
    assert provider.calls == 0
    assert permit.outcomes == ["confirm", "abandon"]
    assert "slide_dropped" in log.events
    assert await _states(db, batch_id) == [SlideState.CANCELLED]
    assert (await db.batches.get_batch(batch_id)).state is BatchState.CANCELLED


async def test_give_back_is_fenced_on_the_worker_and_the_attempt(db: Database) -> None:
    """give_back: the claim's slide goes back to pending with the attempt not counted; a
    claim whose slide was claimed again meanwhile (its lease expired, another worker took
    it: the attempt moved on), or a give-back in another worker's name, changes nothing; a
    batch being cancelled: the slide ends cancelled and the batch ends."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 1)
    await store.admit(10, at=AT)
    old, new = await _claimed_again(db, store)
    assert new.seq == old.seq + 1
    assert await store.give_back(old, "dead", at=AT) == type(await store.reap(at=AT))(())
    assert await store.give_back(new, "dead", at=AT) == type(await store.reap(at=AT))(())
    (slide,) = await db.batches.get_slides(batch_id)
    assert (slide.state, slide.attempts) == (SlideState.GENERATING, 1)
    returned = await store.give_back(new, "alive", at=AT)
    assert (returned.slides, returned.cancelled) == (((batch_id, 0),), ())
    (slide,) = await db.batches.get_slides(batch_id)
    assert (slide.state, slide.attempts) == (SlideState.PENDING, 0)
    assert await store.give_back(new, "alive", at=AT) == type(returned)(())  # once only

    (again,) = await _claims(store, "alive", 1)
    await _cancel(db, store, batch_id)
    dropped = await store.give_back(again, "alive", at=AT)
    assert dropped.cancelled == ((batch_id, 0),)
    assert [f.batch.state for f in dropped.finished] == [BatchState.CANCELLED]
    assert await _states(db, batch_id) == [SlideState.CANCELLED]


async def _until(check: Callable[[], Awaitable[bool]], within: float = 10) -> None:
    """Return once ``check`` holds (it reads a database or another process's cache)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (no event to wait on across processes)
            await asyncio.sleep(0.02)


async def _lock_waiters(db: Database) -> int:
    """Sessions of this database waiting for a row or transaction lock."""
    async with db.engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return int(found.scalar_one())


async def _put_back(store: FleetStore, claim: Claim, how: str) -> None:
    """The worker's write that may put its claim back to pending, then its end check."""
    if how == "give_back":
        await store.give_back(claim, "w", at=AT)
        return
    if how == "waiting":
        await store.waiting(claim, message="429", attempts=1, requeues=0, delay=0)
    else:  # a candidates round stored, another one left
        await store.done(claim, DoneValues("0.png", 1.0, None, False, (), AT))
    await store.finish_if_done(claim.batch.id, at=AT)


@pytest.mark.parametrize("how", ["give_back", "waiting", "round"])
async def test_a_cancel_between_a_put_back_and_its_commit_still_ends_the_batch(
    db: Database, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A cancel that runs after a worker's write put its claim back to pending (given back,
    waiting for a retry, a candidates round left) but before that write commits: the batch
    still ends cancelled with no slide pending (the write read ``cancel_requested`` false,
    the cancel found the slide generating, and the batch stayed running for ever)."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 2)
    await store.admit(10, at=AT)
    if how == "round":
        async with db.engine.begin() as connection:
            await connection.execute(text("UPDATE slides SET rounds_left = 2"))
    (claim,) = await _claims(store, "w", 1)
    notify = store_module._notify_event
    cancels: list[asyncio.Task[Cancelled | None]] = []

    async def _cancel_ran_or_waits() -> bool:
        return cancels[0].done() or await _lock_waiters(db) > 0

    async def cancel_first(connection: Any, batch: str, keys: Any, *, end: bool = False) -> None:
        if not cancels:  # the write's event: the cancel runs now, in full or until it waits
            cancels.append(asyncio.create_task(store.cancel(batch_id, at=AT)))
            await _until(_cancel_ran_or_waits)
        await notify(connection, batch, keys, end=end)

    monkeypatch.setattr(store_module, "_notify_event", cancel_first)
    await _put_back(store, claim, how)
    await asyncio.wait_for(cancels[0], timeout=10)

    assert SlideState.PENDING not in await _states(db, batch_id)
    batch = await db.batches.get_batch(batch_id)
    assert (batch.state, batch.cancel_requested) == (BatchState.CANCELLED, True)


@pytest.fixture
async def two_apis(tmp_path: Path, postgres_url: str) -> AsyncIterator[tuple[Services, Services]]:
    """Two API processes of one fleet (``serve --no-worker``), no worker."""
    async with AsyncExitStack() as stack:
        apis = []
        for name in ("a", "b"):
            settings = load_settings(
                data_dir=tmp_path / "data",
                log_dir=tmp_path / name / "logs",
                database_url=postgres_url,
                fleet_poll_seconds=0.1,
            )
            role = FleetRole(api=True, worker=False)
            apis.append(await stack.enter_async_context(build_services(settings, fleet=role)))
        yield apis[0], apis[1]


async def _ended_status(services: Services, batch_id: str) -> Any:
    """The status answer once this process heard of the batch's end (at most 10 s)."""

    async def ended() -> bool:
        return (await services.engine.read.status(batch_id)).status.is_final

    await _until(ended)
    return await services.engine.read.status(batch_id)


@pytest.mark.parametrize("retry_first", [True, False])
async def test_a_cancel_that_ends_the_batch_reaches_every_status_answer(
    two_apis: tuple[Services, Services], retry_first: bool
) -> None:
    """A cancel that ends the batch at once (no claim held) turns its pending slides
    cancelled in the status answers of the process that cancelled (at once) and of the
    other API processes (once they hear of it), even when both had the slides cached as
    pending; they used to hear of the batch's end alone and kept the slides pending.
    retry_first: cancel, retry, poll, cancel, as seen live (trial #15)."""
    api, other = two_apis
    slides = tuple(
        Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}", "point", "") for i in range(1, 5)
    )
    batch, _ = await api.engine.submit(BatchRequest(slides, "flat", AspectRatio(16, 9), 1))
    if retry_first:
        await api.engine.cancel(batch.id)
        assert await api.engine.retry_failed(batch.id) == 4
    for services in two_apis:  # the polls that cache the slides pending

        async def reopened(services: Services = services) -> bool:
            return not (await services.engine.read.status(batch.id)).status.is_final

        await _until(reopened)  # ``other`` hears of the retry by its NOTIFY
        cached = await services.engine.read.status(batch.id)
        assert Counter(s.state.value for s in cached.results or ()) == {"pending": 4}
    await api.engine.cancel(batch.id)

    stored = await api.database.batches.get_slides(batch.id)
    assert Counter(s.state.value for s in stored) == {"cancelled": 4}
    status = await api.engine.read.status(batch.id)  # no wait: this process cancelled it
    assert status.status.value == "cancelled"
    assert Counter(s.state.value for s in status.results or ()) == {"cancelled": 4}
    assert status.progress.completed_slides == 4
    heard = await _ended_status(other, batch.id)
    assert heard.status.value == "cancelled"
    assert Counter(s.state.value for s in heard.results or ()) == {"cancelled": 4}
    assert heard.progress.completed_slides == 4


async def test_a_batch_cleaned_up_by_one_process_is_gone_in_every_other(
    two_apis: tuple[Services, Services],
) -> None:
    """The periodic cleanup of one API process deletes an old batch: another process that
    had its status cached answers "not found" once it hears of it (it used to answer the
    cached status for as long as it ran: only a delete told the other processes)."""
    api, other = two_apis
    slides = (Slide("s1", 1, SlideType.CONTENT, "Slide 1", "point", ""),)
    batch, _ = await api.engine.submit(BatchRequest(slides, "flat", AspectRatio(16, 9), 1))
    await api.engine.cancel(batch.id)
    assert (await _ended_status(other, batch.id)).status.value == "cancelled"
    async with api.database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE batches SET finished_at = finished_at - interval '30 days'")
        )
    assert await api.engine.cleanup() == 1
    with pytest.raises(NotFound):
        await api.engine.read.status(batch.id)

    async def gone() -> bool:
        try:
            await other.engine.read.status(batch.id)
        except NotFound:
            return True
        return False

    await _until(gone)


async def test_a_worker_ends_a_batch_a_cancel_left_running(
    db: Database, api_and_worker_services: StartFleet
) -> None:
    """A batch left running with ``cancel_requested`` and a slide pending (what the race
    above left in a database before the fix) is cancelled again by a worker's sweep and
    ends cancelled; it used to stay running for ever, holding a place."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 2)
    await store.admit(10, at=AT)
    async with db.engine.begin() as connection:
        await connection.execute(
            text("UPDATE batches SET cancel_requested = true WHERE id = :b"), {"b": batch_id}
        )
    assert await store.stalled_cancels() == [batch_id]
    await api_and_worker_services(ScriptedProvider(SystemClock()))

    async def ended() -> bool:
        return (await db.batches.get_batch(batch_id)).state.is_final

    await _until(ended)
    assert (await db.batches.get_batch(batch_id)).state is BatchState.CANCELLED
    assert await _states(db, batch_id) == [SlideState.CANCELLED] * 2
    assert await store.stalled_cancels() == []


async def test_a_reap_meeting_a_paid_result_being_stored_does_not_deadlock(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paid image stored for a slide whose lease just expired, while the reaper (which
    now locks every batch it touches) runs between the slide's write and the payment's:
    the result is stored and the reaper leaves the slide alone, with no deadlock between
    the reaper's batch lock and the payment's foreign key."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 1)
    await store.admit(10, at=AT)
    (claim,) = await _claims(store, "slow", 1)
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE slides SET lease_until = now() - interval '1 s'"))
    after_done = store_module._after_done
    reaps: list[asyncio.Task[Any]] = []

    async def reap_first(connection: Any, slide: Any, *, values: DoneValues) -> bool:
        reaps.append(asyncio.create_task(store.reap(at=AT)))

        async def reap_waits() -> bool:
            return reaps[0].done() or await _lock_waiters(db) > 0

        await _until(reap_waits)
        return await after_done(connection, slide, values=values)

    monkeypatch.setattr(store_module, "_after_done", reap_first)
    assert await store.done(claim, DoneValues("0.png", 1.0, 0.04, False, (), AT))
    reaped = await asyncio.wait_for(reaps[0], timeout=10)
    assert reaped.slides == ()
    assert await _states(db, batch_id) == [SlideState.DONE]
