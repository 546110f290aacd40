"""BatchRepository against real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event
from storage_helpers import T0, deck

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchRecord
from slidebatch.core.slide_change import SlideChange
from slidebatch.core.states import BatchState, SlideState
from slidebatch.errors import Conflict, InputError, NotFound
from slidebatch.storage.database import Database

AT = datetime(2025, 3, 2, 8, 30, 15, 654321, tzinfo=UTC)


async def _create(
    db: Database,
    count: int = 3,
    *,
    owner: str | None = None,
    key: str | None = None,
) -> BatchRecord:
    request = deck(count)
    record, created = await db.batches.create_batch(
        request=request,
        final_prompts=[f"prompt {i}" for i in range(count)],
        effective_workers=5,
        owner=owner,
        idempotency_key=key,
    )
    assert created
    return record


async def test_create_batch_stores_request_and_pending_slides(db: Database) -> None:
    """A new batch is queued with every field of the request and one pending slide each."""
    record = await _create(db, 3, owner="key1", key="idem")
    assert len(record.id) == 32
    assert record.state is BatchState.QUEUED
    assert record.style_prompt == "flat, blue"
    assert record.aspect_ratio == AspectRatio(16, 9)
    assert record.requested_workers == 7
    assert record.effective_workers == 5
    assert record.total_slides == 3
    assert record.title == "标题 0"
    assert record.owner == "key1"
    assert record.idempotency_key == "idem"
    assert record.created_at == T0 + timedelta(seconds=1)
    assert record.cancel_requested is False
    assert (record.started_at, record.finished_at) == (None, None)
    slides = await db.batches.get_slides(record.id)
    assert [s.key for s in slides] == [0, 1, 2]
    assert [s.slide for s in slides] == list(deck(3).slides)
    assert [s.final_prompt for s in slides] == ["prompt 0", "prompt 1", "prompt 2"]
    assert all(s.state is SlideState.PENDING and s.attempts == 0 for s in slides)


async def test_create_batch_needs_one_prompt_per_slide(db: Database) -> None:
    """A prompt list of the wrong length is refused before anything is stored."""
    with pytest.raises(InputError):
        await db.batches.create_batch(
            request=deck(2),
            final_prompts=["one"],
            effective_workers=None,
            owner=None,
            idempotency_key=None,
        )
    assert (await db.batches.list_batches(owner=None, limit=10, offset=0))[1] == 0


async def test_idempotency_key_returns_the_same_batch(db: Database) -> None:
    """A retried create with the same key and owner answers the first batch, created=False."""
    first = await _create(db, owner=None, key="k1")
    again, created = await db.batches.create_batch(
        request=deck(5),
        final_prompts=["x"] * 5,
        effective_workers=1,
        owner=None,
        idempotency_key="k1",
    )
    assert (again.id, created) == (first.id, False)
    other_owner = await _create(db, owner="someone", key="k1")
    assert other_owner.id != first.id


async def test_concurrent_creates_with_one_key_make_one_batch(db: Database) -> None:
    """Racing creates with one idempotency key end with exactly one batch, seen by all."""
    results = await asyncio.gather(
        *(
            db.batches.create_batch(
                request=deck(20),
                final_prompts=["p"] * 20,
                effective_workers=2,
                owner="k",
                idempotency_key="race",
            )
            for _ in range(4)
        )
    )
    assert len({record.id for record, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    batches, total = await db.batches.list_batches(owner=None, limit=10, offset=0)
    assert total == 1
    assert len(await db.batches.get_slides(batches[0][0].id)) == 20


async def test_get_batch_hides_other_owners_batches(db: Database) -> None:
    """get_batch raises NotFound for a missing batch and for someone else's."""
    record = await _create(db, owner="alice")
    assert (await db.batches.get_batch(record.id, owner="alice")).id == record.id
    assert (await db.batches.get_batch(record.id)).id == record.id
    with pytest.raises(NotFound, match="not found"):
        await db.batches.get_batch(record.id, owner="bob")
    with pytest.raises(NotFound):
        await db.batches.get_batch("0" * 32)


async def test_list_batches_pages_newest_first_per_owner(db: Database) -> None:
    """Listing is newest first with a total, and filters by owner when given."""
    ids = [(await _create(db, 1, owner="a" if i % 2 else "b")).id for i in range(5)]
    page, total = await db.batches.list_batches(owner=None, limit=2, offset=1)
    assert total == 5
    assert [r.id for r, _, _ in page] == [ids[3], ids[2]]
    mine, mine_total = await db.batches.list_batches(owner="a", limit=10, offset=0)
    assert mine_total == 2
    assert [r.id for r, _, _ in mine] == [ids[3], ids[1]]


async def test_a_listed_batch_is_converted_again_only_when_its_row_changed(db: Database) -> None:
    """Listing twice gives the same value for an unchanged batch and a new one, with the new
    counts and spend, for a batch whose slide finished in between."""
    still = (await _create(db, 2)).id
    moved = (await _create(db, 2)).id
    first, _ = await db.batches.list_batches(owner=None, limit=10, offset=0)
    await db.batches.mark_done(
        moved, 1, image_file="i.png", generation_time=1.0, cost=0.25, placeholder=False, at=AT
    )
    again, _ = await db.batches.list_batches(owner=None, limit=10, offset=0)
    before, after = dict((b.batch.id, b) for b in first), dict((b.batch.id, b) for b in again)
    assert after[still] is before[still]
    assert after[moved] is not before[moved]
    assert after[moved].counts[SlideState.DONE] == 1
    assert after[moved].spend.total == 0.25
    mine, _ = await db.batches.list_batches(owner="nobody", limit=10, offset=0)
    assert mine == []


async def test_batch_state_timestamps(db: Database) -> None:
    """started_at is set once; finished_at is set by a final state and cleared on re-run."""
    batch_id = (await _create(db)).id
    repo = db.batches
    await repo.set_batch_state(batch_id, BatchState.RUNNING, at=AT)
    await repo.set_batch_state(batch_id, BatchState.RUNNING, at=AT + timedelta(seconds=5))
    running = await repo.get_batch(batch_id)
    assert (running.state, running.started_at, running.finished_at) == (
        BatchState.RUNNING,
        AT,
        None,
    )
    await repo.set_batch_state(batch_id, BatchState.COMPLETED, at=AT + timedelta(seconds=9))
    done = await repo.get_batch(batch_id)
    assert done.finished_at == AT + timedelta(seconds=9)
    assert done.total_time == 9.0
    await repo.set_batch_state(batch_id, BatchState.QUEUED, at=AT + timedelta(seconds=20))
    again = await repo.get_batch(batch_id)
    assert (again.state, again.started_at, again.finished_at) == (BatchState.QUEUED, AT, None)
    with pytest.raises(NotFound):
        await repo.set_batch_state("f" * 32, BatchState.RUNNING, at=AT)


async def test_cancel_request_is_kept_until_the_batch_is_rerun(db: Database) -> None:
    """request_cancel survives queued->running, and a re-run after the end clears it."""
    batch_id = (await _create(db)).id
    repo = db.batches
    await repo.request_cancel(batch_id)
    await repo.set_batch_state(batch_id, BatchState.RUNNING, at=AT)
    assert (await repo.get_batch(batch_id)).cancel_requested is True
    await repo.set_batch_state(batch_id, BatchState.CANCELLED, at=AT)
    assert (await repo.get_batch(batch_id)).cancel_requested is True
    await repo.set_batch_state(batch_id, BatchState.QUEUED, at=AT)
    assert (await repo.get_batch(batch_id)).cancel_requested is False
    with pytest.raises(NotFound):
        await repo.request_cancel("e" * 32)


async def test_queue_is_fifo_and_a_requeued_batch_goes_last(db: Database) -> None:
    """queued_batches is admission order; a finished batch queued again joins at the end."""
    repo = db.batches
    ids = [(await _create(db, 1)).id for _ in range(3)]
    assert [b.id for b in await repo.queued_batches()] == ids
    assert [await repo.queue_position(i) for i in ids] == [1, 2, 3]
    assert await repo.queue_positions() == {ids[0]: 1, ids[1]: 2, ids[2]: 3}
    await repo.set_batch_state(ids[0], BatchState.RUNNING, at=AT)
    assert await repo.queue_position(ids[0]) is None
    await repo.set_batch_state(ids[0], BatchState.FAILED, at=AT)
    await repo.set_batch_state(ids[0], BatchState.QUEUED, at=AT)
    assert [b.id for b in await repo.queued_batches()] == [ids[1], ids[2], ids[0]]
    assert await repo.queue_position(ids[0]) == 3
    assert await repo.queue_positions() == {ids[1]: 1, ids[2]: 2, ids[0]: 3}
    with pytest.raises(NotFound):
        await repo.queue_position("d" * 32)


async def test_count_active_counts_queued_and_running(db: Database) -> None:
    """count_active reports queued and running batches, optionally for one owner."""
    repo = db.batches
    a1, a2, b1, b2 = [(await _create(db, 1, owner=o)).id for o in ("a", "a", "b", "b")]
    await repo.set_batch_state(a1, BatchState.RUNNING, at=AT)
    await repo.set_batch_state(b1, BatchState.COMPLETED, at=AT)
    assert await repo.count_active() == {BatchState.QUEUED: 2, BatchState.RUNNING: 1}
    assert await repo.count_active("a") == {BatchState.QUEUED: 1, BatchState.RUNNING: 1}
    assert await repo.count_active("nobody") == {BatchState.QUEUED: 0, BatchState.RUNNING: 0}
    assert {a2, b2} == {b.id for b in await repo.queued_batches()}


async def test_a_start_never_sent_returns_the_slide_to_pending_unpaid(db: Database) -> None:
    """mark_returned: a slide stored 'generating' for attempt 2 but never sent is pending
    again with one paid attempt, no start time, its requeues and last error kept."""
    batch_id = (await _create(db)).id
    repo = db.batches
    await repo.mark_generating(batch_id, 1, attempt=1, at=AT)
    await repo.mark_waiting(batch_id, 1, message="503 busy", attempts=1, requeues=2)
    await repo.mark_generating(batch_id, 1, attempt=2, at=AT + timedelta(seconds=3))
    await repo.mark_returned(batch_id, 1, attempts=1)
    slide = await repo.get_slide(batch_id, 1)
    assert (slide.state, slide.attempts, slide.requeues) == (SlideState.PENDING, 1, 2)
    assert (slide.started_at, slide.error_message) == (None, "503 busy")
    with pytest.raises(NotFound):
        await repo.mark_returned(batch_id, 99, attempts=0)


async def test_slide_lifecycle_to_done(db: Database) -> None:
    """generating then done records attempts, times, file, cost and clears the last error."""
    batch_id = (await _create(db)).id
    repo = db.batches
    await repo.mark_generating(batch_id, 1, attempt=1, at=AT)
    generating = await repo.get_slide(batch_id, 1)
    assert (generating.state, generating.attempts, generating.started_at) == (
        SlideState.GENERATING,
        1,
        AT,
    )
    await repo.mark_waiting(batch_id, 1, message="429 slow down", attempts=1, requeues=2)
    waiting = await repo.get_slide(batch_id, 1)
    assert (waiting.state, waiting.error_message, waiting.requeues) == (
        SlideState.PENDING,
        "429 slow down",
        2,
    )
    await repo.mark_generating(batch_id, 1, attempt=2, at=AT + timedelta(seconds=3))
    await repo.mark_done(
        batch_id,
        1,
        image_file="p002-k1-0123456789ab.png",
        generation_time=4.5,
        cost=0.04,
        placeholder=False,
        at=AT + timedelta(seconds=8),
        warnings=("text cut to fit", "no glyph for 𓀀"),
    )
    done = await repo.get_slide(batch_id, 1)
    assert done.warnings == ("text cut to fit", "no glyph for 𓀀")
    assert done.state is SlideState.DONE
    assert (done.attempts, done.requeues) == (2, 2)
    assert done.image_file == "p002-k1-0123456789ab.png"
    assert (done.generation_time, done.cost, done.placeholder) == (4.5, 0.04, False)
    assert done.error_message is None
    assert (done.started_at, done.finished_at) == (
        AT + timedelta(seconds=3),
        AT + timedelta(seconds=8),
    )
    counts = await repo.slide_counts(batch_id)
    assert counts[SlideState.DONE] == 1
    assert counts[SlideState.PENDING] == 2
    assert counts[SlideState.ERROR] == 0


async def test_mark_error_and_missing_slide(db: Database) -> None:
    """mark_error stores the message; writes to a slide that does not exist raise NotFound."""
    batch_id = (await _create(db)).id
    await db.batches.mark_error(batch_id, 0, message="content policy", at=AT)
    failed = await db.batches.get_slide(batch_id, 0)
    assert (failed.state, failed.error_message, failed.finished_at) == (
        SlideState.ERROR,
        "content policy",
        AT,
    )
    with pytest.raises(NotFound):
        await db.batches.mark_generating(batch_id, 99, attempt=1, at=AT)
    with pytest.raises(NotFound):
        await db.batches.get_slide(batch_id, 99)


async def test_find_slide_key_by_client_id(db: Database) -> None:
    """The client's slide id maps to the server's key; an unknown id is NotFound."""
    batch_id = (await _create(db)).id
    assert await db.batches.find_slide_key(batch_id, "client-2") == 2
    with pytest.raises(NotFound):
        await db.batches.find_slide_key(batch_id, "../../etc/passwd")


async def test_cancel_pending_leaves_running_and_finished_slides(db: Database) -> None:
    """cancel_pending cancels only pending slides and says how many."""
    batch_id = (await _create(db, 4)).id
    repo = db.batches
    await repo.mark_generating(batch_id, 0, attempt=1, at=AT)
    await repo.mark_error(batch_id, 1, message="bad", at=AT)
    assert await repo.cancel_pending(batch_id, at=AT) == 2
    states = [s.state for s in await repo.get_slides(batch_id)]
    assert states == [
        SlideState.GENERATING,
        SlideState.ERROR,
        SlideState.CANCELLED,
        SlideState.CANCELLED,
    ]
    assert await repo.cancel_pending(batch_id, at=AT) == 0


async def test_reset_for_retry_returns_failed_and_cancelled_slides(db: Database) -> None:
    """Retry puts error and cancelled slides back to pending with a fresh budget only."""
    batch_id = (await _create(db, 4)).id
    repo = db.batches
    await repo.mark_generating(batch_id, 0, attempt=1, at=AT)
    await repo.mark_done(
        batch_id,
        0,
        image_file="p001-k0-aaaaaaaaaaaa.png",
        generation_time=1.0,
        cost=None,
        placeholder=True,
        at=AT,
    )
    await repo.mark_generating(batch_id, 1, attempt=3, at=AT)
    await repo.mark_error(batch_id, 1, message="gave up", at=AT)
    await repo.cancel_pending(batch_id, at=AT)
    reset = await repo.reset_for_retry(batch_id)
    assert [s.key for s in reset] == [1, 2, 3]
    assert all(s.state is SlideState.PENDING for s in reset)
    assert all((s.attempts, s.error_message, s.finished_at) == (0, None, None) for s in reset)
    kept = await repo.get_slide(batch_id, 0)
    assert (kept.state, kept.placeholder) == (SlideState.DONE, True)
    assert await repo.reset_for_retry(batch_id) == []


async def test_reset_slide_for_regenerate(db: Database) -> None:
    """Regenerate puts a done slide back to pending with the new prompt and description."""
    batch_id = (await _create(db)).id
    repo = db.batches
    await repo.mark_done(
        batch_id,
        2,
        image_file="p003-k2-aaaaaaaaaaaa.png",
        generation_time=1.0,
        cost=0.1,
        placeholder=False,
        at=AT,
    )
    slide = await repo.reset_slide(batch_id, 2, visual_desc="a red fox", final_prompt="new")
    assert slide.state is SlideState.PENDING
    assert (slide.slide.visual_desc, slide.final_prompt) == ("a red fox", "new")
    assert (slide.image_file, slide.cost, slide.attempts) == (None, None, 0)
    same_desc = await repo.reset_slide(batch_id, 2, visual_desc=None, final_prompt="newer")
    assert (same_desc.slide.visual_desc, same_desc.final_prompt) == ("a red fox", "newer")
    await repo.mark_generating(batch_id, 2, attempt=1, at=AT)
    with pytest.raises(Conflict):
        await repo.reset_slide(batch_id, 2, visual_desc=None, final_prompt="x")
    with pytest.raises(NotFound):
        await repo.reset_slide(batch_id, 9, visual_desc=None, final_prompt="x")


async def test_recover_interrupted_requeues_generating_slides(db: Database) -> None:
    """After a crash, generating slides are pending again (the cut-short attempt not
    counted) and unfinished batches come back in FIFO order, finished ones not at all."""
    repo = db.batches
    first, second, finished = [(await _create(db, 2)).id for _ in range(3)]
    await repo.set_batch_state(first, BatchState.RUNNING, at=AT)
    await repo.mark_generating(first, 0, attempt=2, at=AT)
    await repo.mark_done(
        first,
        1,
        image_file="p002-k1-aaaaaaaaaaaa.png",
        generation_time=1.0,
        cost=None,
        placeholder=False,
        at=AT,
    )
    await repo.set_batch_state(finished, BatchState.COMPLETED, at=AT)
    recovered = await repo.recover_interrupted()
    assert [b.id for b in recovered] == [first, second]
    slides = await repo.get_slides(first)
    assert [(s.state, s.attempts) for s in slides] == [
        (SlideState.PENDING, 1),
        (SlideState.DONE, 0),
    ]
    assert slides[0].started_at is None


async def test_delete_batch_cascades_to_slides(db: Database) -> None:
    """Deleting a batch removes its slides; deleting it again is NotFound."""
    keep = (await _create(db)).id
    gone = (await _create(db)).id
    await db.batches.delete_batch(gone)
    assert await db.batches.get_slides(gone) == []
    assert await db.batches.slide_counts(gone) == dict.fromkeys(SlideState, 0)
    assert len(await db.batches.get_slides(keep)) == 3
    with pytest.raises(NotFound):
        await db.batches.delete_batch(gone)


async def test_batches_finished_before_cutoff(db: Database) -> None:
    """Only final batches that finished before the cutoff are due for cleanup."""
    repo = db.batches
    old, recent, running = [(await _create(db, 1)).id for _ in range(3)]
    await repo.set_batch_state(old, BatchState.COMPLETED, at=AT)
    await repo.set_batch_state(recent, BatchState.FAILED, at=AT + timedelta(hours=2))
    await repo.set_batch_state(running, BatchState.RUNNING, at=AT)
    assert await repo.batches_finished_before(AT + timedelta(hours=1)) == [old]


async def test_datetimes_round_trip_as_aware_utc(db: Database) -> None:
    """A time given in another zone comes back as the same instant, in UTC, with tzinfo."""
    batch_id = (await _create(db)).id
    tokyo = datetime(2025, 3, 2, 17, 30, 15, 654321, tzinfo=timezone(timedelta(hours=9)))
    await db.batches.mark_generating(batch_id, 0, attempt=1, at=tokyo)
    await db.batches.set_batch_state(batch_id, BatchState.RUNNING, at=tokyo)
    slide = await db.batches.get_slide(batch_id, 0)
    batch = await db.batches.get_batch(batch_id)
    for value in (slide.started_at, batch.started_at, batch.created_at):
        assert value is not None
        assert value.tzinfo is UTC
    assert slide.started_at == tokyo
    assert slide.started_at.hour == 8  # type: ignore[union-attr]
    assert batch.started_at == AT


async def test_naive_datetimes_are_refused(db: Database) -> None:
    """A naive datetime is a caller bug and is not silently stored."""
    batch_id = (await _create(db)).id
    with pytest.raises(ValueError, match="naive datetime"):
        await db.batches.mark_generating(batch_id, 0, attempt=1, at=datetime(2025, 1, 1))


async def test_concurrent_slide_writes_each_get_their_own_outcome(db: Database) -> None:
    """Many slide writes at once all land; a missing slide or a bad value fails only itself."""
    batch_id = (await _create(db, 30)).id
    repo = db.batches
    writes = [repo.mark_generating(batch_id, key, attempt=1, at=AT) for key in range(30)]
    writes.append(repo.mark_generating(batch_id, 77, attempt=1, at=AT))
    writes.append(repo.mark_error(batch_id, 5, message="x", at=datetime(2025, 1, 1)))
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    assert all(isinstance(outcome, SlideChange) for outcome in outcomes[:30])
    assert isinstance(outcomes[30], NotFound)
    assert isinstance(outcomes[31], ValueError)
    counts = await repo.slide_counts(batch_id)
    assert counts[SlideState.GENERATING] == 30
    done = [
        repo.mark_done(
            batch_id,
            key,
            image_file=f"p{key:03d}-k{key}-aaaaaaaaaaaa.png",
            generation_time=0.5,
            cost=None,
            placeholder=False,
            at=AT,
        )
        for key in range(30)
    ]
    await asyncio.gather(*done)
    slides = await repo.get_slides(batch_id)
    assert all(s.state is SlideState.DONE and s.attempts == 1 for s in slides)
    assert [s.image_file for s in slides] == [f"p{k:03d}-k{k}-aaaaaaaaaaaa.png" for k in range(30)]


async def test_concurrent_slide_writes_share_transactions(db: Database) -> None:
    """Thirty slide writes at once commit in a few transactions, not one each (both backends)."""
    batch_id = (await _create(db, 30)).id
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    event.listen(db.engine.sync_engine, "commit", count)
    try:
        writes = [db.batches.mark_generating(batch_id, k, attempt=1, at=AT) for k in range(30)]
        await asyncio.gather(*writes)
    finally:
        event.remove(db.engine.sync_engine, "commit", count)
    assert 1 <= len(commits) <= 3
    assert (await db.batches.slide_counts(batch_id))[SlideState.GENERATING] == 30


async def test_batch_with_slides_reads_all_or_the_keys_asked(db: Database) -> None:
    """The batch and its slides come in one read; ``keys`` narrows the slides; owners hold."""
    batch = await _create(db, 4, owner="k1")
    whole, slides = await db.batches.get_batch_with_slides(batch.id)
    assert whole.id == batch.id
    assert [s.key for s in slides] == [0, 1, 2, 3]
    _, some = await db.batches.get_batch_with_slides(batch.id, keys={3, 1})
    assert [s.key for s in some] == [1, 3]
    _, none = await db.batches.get_batch_with_slides(batch.id, keys=())
    assert none == []
    with pytest.raises(NotFound):
        await db.batches.get_batch_with_slides(batch.id, owner="k2")
    with pytest.raises(NotFound):
        await db.batches.get_batch_with_slides("nope")
