"""A slide write's ``SlideChange`` turns the record read before it into the record read after."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

from storage_helpers import deck

from slidebatch.core.batch import SlideRecord
from slidebatch.core.slide_change import SlideChange
from slidebatch.storage.database import Database

# Not UTC on purpose: the database gives times back in UTC, and so must the change.
CST = timezone(timedelta(hours=8))
AT = datetime(2025, 3, 2, 16, 30, 15, 654321, tzinfo=CST)


async def _batch(db: Database) -> str:
    record, _ = await db.batches.create_batch(
        request=deck(2),
        final_prompts=["p0", "p1"],
        effective_workers=2,
        owner=None,
        idempotency_key=None,
    )
    return record.id


async def _follows(db: Database, batch_id: str, before: SlideRecord, change: SlideChange) -> None:
    after = await db.batches.get_slide(batch_id, before.key)
    assert change.applied(before) == after


async def test_every_slide_write_returns_what_it_stored(db: Database) -> None:
    """generating, waiting, done (paid twice: the spend adds up), failed, returned (pending
    again, unsent) and dropped: each change applied to the record before it is the record
    read after it, field for field."""
    batch_id = await _batch(db)
    repo = db.batches
    writes: list[tuple[int, Callable[[], Awaitable[SlideChange]]]] = [
        (0, lambda: repo.mark_generating(batch_id, 0, attempt=1, at=AT)),
        (0, lambda: repo.mark_waiting(batch_id, 0, message="429", attempts=1, requeues=2)),
        (0, lambda: repo.mark_generating(batch_id, 0, attempt=2, at=AT + timedelta(seconds=1))),
        (
            0,
            lambda: repo.mark_done(
                batch_id,
                0,
                image_file="p001-k0-0123456789ab.png",
                generation_time=4.25,
                cost=0.1,
                placeholder=False,
                at=AT + timedelta(seconds=5),
                warnings=("text cut to fit", "no glyph for 𓀀"),
                estimated=True,
            ),
        ),
        (
            0,
            lambda: repo.mark_done(
                batch_id,
                0,
                image_file="p001-k0-ba9876543210.png",
                generation_time=3.0,
                cost=0.2,
                placeholder=False,
                at=AT + timedelta(seconds=9),
            ),
        ),
        (1, lambda: repo.mark_error(batch_id, 1, message="gave up", at=AT)),
        (1, lambda: repo.mark_generating(batch_id, 1, attempt=2, at=AT)),
        (1, lambda: repo.mark_returned(batch_id, 1, attempts=1)),
        (1, lambda: repo.mark_generating(batch_id, 1, attempt=2, at=AT)),
        (1, lambda: repo.mark_dropped(batch_id, 1, attempts=1, at=AT + timedelta(seconds=2))),
    ]
    for key, write in writes:
        before = await repo.get_slide(batch_id, key)
        await _follows(db, batch_id, before, await write())
    assert (await repo.get_slide(batch_id, 0)).spent == 0.1 + 0.2


async def test_each_write_begins_after_the_last(db: Database) -> None:
    """``begun`` counts the writes as they begin; ``writes_begun`` is the last one's."""
    batch_id = await _batch(db)
    repo = db.batches
    first = await repo.mark_generating(batch_id, 0, attempt=1, at=AT)
    second = await repo.mark_generating(batch_id, 1, attempt=1, at=AT)
    assert (first.begun, second.begun) == (1, 2)
    assert repo.writes_begun == 2
