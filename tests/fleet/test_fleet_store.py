"""FleetStore on a real PostgreSQL: fair claims, caps, fencing, exactly one end, admission."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from tests.fleet.fleet_batches import stored_batch

from slidebatch.core.states import BatchState, SlideState
from slidebatch.fleet.store import DoneValues, FleetStore
from slidebatch.storage.database import Database

pytestmark = pytest.mark.postgres

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _done() -> DoneValues:
    return DoneValues("p001-k0-0123456789ab.png", 1.0, None, False, (), AT)


async def test_claims_take_turns_between_batches_within_each_cap(db: Database) -> None:
    """Claims rotate over the running batches and never pass a batch's max_workers."""
    store = FleetStore(db.engine)
    big = await stored_batch(db, 6, workers=2)
    small = await stored_batch(db, 3, workers=None)
    assert [b.id for b in await store.admit(10, at=AT)] == [big, small]
    claims = [await store.claim("w1", lease=30, at=AT) for _ in range(5)]
    order = [c.batch.id if c else None for c in claims]
    assert order == [big, small, big, small, small]  # big is at its cap of 2 after two
    assert [c.slide.key for c in claims if c and c.batch.id == big] == [0, 1]
    assert await store.claim("w1", lease=30, at=AT) is None
    assert {c.seq for c in claims if c} == {1}


async def test_admission_counts_the_whole_fleet(db: Database) -> None:
    """No more than the maximum run at once; the next starts when one ends."""
    store = FleetStore(db.engine)
    first = await stored_batch(db, 1, workers=None)
    second = await stored_batch(db, 1, workers=None)
    assert [b.id for b in await store.admit(1, at=AT)] == [first]
    assert await store.admit(1, at=AT) == []
    claim = await store.claim("w1", lease=30, at=AT)
    assert claim is not None
    assert await store.done(claim, _done())
    finished = await store.finish_if_done(first, at=AT)
    assert finished is not None
    assert finished.batch.state is BatchState.COMPLETED
    assert [b.id for b in await store.admit(1, at=AT)] == [second]


async def test_a_worker_presumed_dead_cannot_overwrite_the_newer_attempt(db: Database) -> None:
    """After its lease expired and the slide was claimed again, the old attempt's write is
    refused; the new attempt's is stored; the batch ends exactly once."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 1, workers=None)
    await store.admit(10, at=AT)
    old = await store.claim("dead", lease=30, at=AT)
    assert old is not None
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE slides SET lease_until = now() - interval '1 s'"))
    assert (await store.reap(at=AT)).slides == ((batch_id, 0),)
    new = await store.claim("alive", lease=30, at=AT)
    assert new is not None
    assert (old.seq, new.seq) == (1, 2)
    assert new.slide.attempts == old.slide.attempts  # the cut attempt was not counted
    assert await store.done(old, _done()) is False
    assert await store.failed(old, message="late", at=AT) is False
    assert await store.done(new, _done()) is True
    assert await store.done(new, _done()) is False  # a result is stored once
    assert (await store.finish_if_done(batch_id, at=AT)) is not None
    assert (await store.finish_if_done(batch_id, at=AT)) is None
    slide = await db.batches.get_slide(batch_id, 0)
    assert slide.state is SlideState.DONE
    assert slide.error_message is None


async def test_a_retry_waits_without_a_lease_and_a_cancel_ends_it(db: Database) -> None:
    """A slide backing off holds no lease and is not claimable before its due time; once the
    batch is cancelled, a retry ends the slide cancelled and the batch ends."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 2, workers=None)
    await store.admit(10, at=AT)
    claim = await store.claim("w1", lease=30, at=AT)
    assert claim is not None
    assert await store.waiting(claim, message="429", attempts=0, requeues=1, delay=60)
    other = await store.claim("w1", lease=30, at=AT)
    assert other is not None
    assert other.slide.key == 1  # slide 0 is not due for a minute
    assert await store.claim("w1", lease=30, at=AT) is None
    await db.batches.request_cancel(batch_id)
    await db.batches.cancel_pending(batch_id, at=AT)
    assert await store.failed(other, message="boom", at=AT)
    finished = await store.finish_if_done(batch_id, at=AT)
    assert finished is not None
    assert finished.batch.state is BatchState.CANCELLED


async def test_a_worker_that_stops_cleanly_hands_its_slides_back_at_once(db: Database) -> None:
    """leave(): the slides it held are pending again (attempt not counted), claimable now."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 1, workers=None)
    await store.admit(10, at=AT)
    held = await store.claim("leaving", lease=30, at=AT)
    assert held is not None
    assert await store.claim("other", lease=30, at=AT) is None
    assert len((await store.leave("leaving", at=AT)).slides) == 1
    again = await store.claim("other", lease=30, at=AT)
    assert again is not None
    assert (again.batch.id, again.slide.key, again.seq) == (batch_id, 0, 2)
    assert again.slide.attempts == held.slide.attempts
    assert await store.done(held, _done()) is False


async def test_each_paid_image_adds_to_the_slides_spend(db: Database) -> None:
    """A slide done, regenerated and done again: its cost is the latest image's, its spent
    every paid image's, the one of an attempt fenced off too (presumed dead, its slide
    claimed again: the upstream billed it); a result written twice adds once."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 1, workers=None)
    await store.admit(10, at=AT)
    first = await store.claim("w1", lease=30, at=AT)
    assert first is not None
    assert await store.done(first, DoneValues("a.png", 1.0, 0.25, False, (), AT))
    await db.batches.reset_slide(batch_id, 0, visual_desc=None, final_prompt="p0")
    await db.batches.set_batch_state(batch_id, BatchState.RUNNING, at=AT)
    second = await store.claim("w1", lease=30, at=AT)
    assert second is not None
    assert await store.done(second, DoneValues("b.png", 1.0, 0.5, False, (), AT))
    assert await store.done(second, DoneValues("b.png", 1.0, 0.5, False, (), AT)) is False
    assert await store.done(first, DoneValues("c.png", 1.0, 2.0, False, (), AT)) is False
    slide = await db.batches.get_slide(batch_id, 0)
    assert (slide.cost, slide.spent) == (0.5, pytest.approx(2.75))
    # Each paid image is also kept with when it was paid (the daily spend counts those).
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT cost, paid_at FROM slide_payments WHERE batch_id = :b ORDER BY id"),
            {"b": batch_id},
        )
        assert [(r.cost, r.paid_at) for r in rows] == [(0.25, AT), (0.5, AT), (2.0, AT)]


async def test_an_image_fenced_off_by_a_reap_is_counted_and_a_deleted_batch_pays_nothing(
    db: Database,
) -> None:
    """The worker was presumed dead and its slide reaped (pending again, not yet claimed):
    its image, paid, adds to the slide's spend; a result for a deleted batch adds nothing."""
    store = FleetStore(db.engine)
    batch_id = await stored_batch(db, 1, workers=None)
    await store.admit(10, at=AT)
    stale = await store.claim("dead", lease=30, at=AT)
    assert stale is not None
    async with db.engine.begin() as connection:
        await connection.execute(text("UPDATE slides SET lease_until = now() - interval '1 s'"))
    await store.reap(at=AT)
    assert await store.done(stale, DoneValues("late.png", 1.0, 0.25, False, (), AT)) is False
    slide = await db.batches.get_slide(batch_id, 0)
    assert (slide.state, slide.spent, slide.image_file) == (SlideState.PENDING, 0.25, None)
    await db.batches.delete_batch(batch_id)
    assert await store.done(stale, DoneValues("late.png", 1.0, 0.25, False, (), AT)) is False
    async with db.engine.connect() as connection:
        query = text("SELECT count(*) FROM slide_payments WHERE batch_id = :b")
        paid = (await connection.execute(query, {"b": batch_id})).scalar()
    assert paid == 0  # the batch's payments went with it (ON DELETE CASCADE); none added


async def test_workers_silent_for_longer_than_asked_are_pruned(db: Database) -> None:
    """A killed worker's fleet_workers row goes once its heartbeat is old; a live one stays."""
    store = FleetStore(db.engine)
    await store.heartbeat("dead", lease=30, host="h", pid=1)
    await store.heartbeat("live", lease=30, host="h", pid=2)
    async with db.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE fleet_workers SET beat_at = now() - interval '90 seconds'"
                " WHERE name = 'dead'"
            )
        )
    assert await store.prune_workers(silent_for=60) == ["dead"]
    async with db.engine.connect() as connection:
        names = (await connection.execute(text("SELECT name FROM fleet_workers"))).scalars()
        assert list(names) == ["live"]
