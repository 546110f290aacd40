"""Slide writes and audit rows that arrive together share one transaction and one commit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import event
from sqlalchemy.exc import StatementError
from tests.storage.storage_helpers import deck

from slidebatch.core.audit import AuditAction, AuditEvent, AuditOutcome
from slidebatch.core.slide_change import SlideChange
from slidebatch.core.states import SlideState
from slidebatch.storage.audit import AuditRepository
from slidebatch.storage.database import Database
from slidebatch.storage.errors import StorageUnavailable
from slidebatch.storage.group_commit import GroupCommit

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _event(target: str, *, at: datetime = AT) -> AuditEvent:
    return AuditEvent(at=at, action=AuditAction.BATCH_READ, outcome=AuditOutcome.OK, target=target)


async def _stored(database: Database) -> tuple[str, AuditRepository]:
    batch, _ = await database.batches.create_batch(
        request=deck(3),
        final_prompts=["p"] * 3,
        effective_workers=None,
        owner=None,
        idempotency_key=None,
    )
    return batch.id, AuditRepository.on(database)


async def test_slide_writes_and_audit_rows_arriving_together_commit_once(
    database_url: str,
) -> None:
    """Three slide writes and three audit rows sent at once are one commit, and all stored."""
    database = await Database.open(database_url)
    try:
        batch_id, audit = await _stored(database)
        commits: list[object] = []

        def committed(connection: object) -> None:
            commits.append(connection)

        event.listen(database.engine.sync_engine, "commit", committed)
        await asyncio.gather(
            *(database.batches.mark_generating(batch_id, k, attempt=1, at=AT) for k in range(3)),
            *(audit.record(_event(f"t{n}")) for n in range(3)),
        )
        event.remove(database.engine.sync_engine, "commit", committed)
        assert len(commits) == 1
        assert {e.target for e in await audit.query()} == {"t0", "t1", "t2"}
        slides = await database.batches.get_slides(batch_id)
        assert [s.state for s in slides] == [SlideState.GENERATING] * 3
    finally:
        await database.close()


async def test_a_bad_audit_row_fails_alone(database_url: str) -> None:
    """A row the database refuses (a naive time) fails its own caller; the slide writes and the
    other rows flushed with it are still committed."""
    database = await Database.open(database_url)
    try:
        batch_id, audit = await _stored(database)
        outcomes = await asyncio.gather(
            database.batches.mark_generating(batch_id, 0, attempt=1, at=AT),
            audit.record(_event("bad", at=datetime(2026, 11, 30, 12, 0))),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], SlideChange)
        assert isinstance(outcomes[1], StorageUnavailable | ValueError)
        assert (await database.batches.get_slide(batch_id, 0)).state is SlideState.GENERATING
        await audit.record(_event("good"))
        assert [e.target for e in await audit.query()] == ["good"]
    finally:
        await database.close()


async def test_audit_rows_alone_are_committed(tmp_path: object) -> None:
    """With no slide write in flight, audit rows are still committed, together."""
    database = await Database.open(f"sqlite+aiosqlite:///{tmp_path}/data/a.db")
    try:
        audit = AuditRepository.on(database)
        await asyncio.gather(*(audit.record(_event(f"t{n}")) for n in range(5)))
        assert len(await audit.query()) == 5
    finally:
        await database.close()


@pytest.mark.parametrize("rows", [1, 3])
async def test_a_repository_of_its_own_commits_its_rows(tmp_path: object, rows: int) -> None:
    """An ``AuditRepository`` built without the database's group commit uses one of its own."""
    database = await Database.open(f"sqlite+aiosqlite:///{tmp_path}/data/a.db")
    try:
        audit = AuditRepository(database.read_engine, writing=database.writing)
        await asyncio.gather(*(audit.record(_event(f"t{n}")) for n in range(rows)))
        assert len(await audit.query()) == rows
    finally:
        await database.close()


async def test_a_row_behind_returns_before_its_commit_and_is_committed_next(
    database_url: str,
) -> None:
    """``append_behind`` returns before its row is committed; the row is committed in a
    later flush, in order after the rows that came before it."""
    database = await Database.open(database_url)
    try:
        _, audit = await _stored(database)
        first = asyncio.ensure_future(audit.record(_event("waited")))
        await asyncio.sleep(0)  # its flush has started
        stored = await audit.queue(_event("behind"))
        assert not stored.done()
        await stored
        await first
        assert [e.target for e in await audit.query()] == ["behind", "waited"]  # newest first
    finally:
        await database.close()


async def test_rows_behind_past_the_limit_wait_for_room(tmp_path: object) -> None:
    """With ``behind_limit`` rows queued and uncommitted, the next caller waits until a flush
    ends; every row is committed, none dropped."""
    database = await Database.open(f"sqlite+aiosqlite:///{tmp_path}/data/a.db")
    try:
        commits = GroupCommit(None, database.writing, behind_limit=2)
        audit = AuditRepository(database.read_engine, writing=database.writing, commits=commits)
        queued = [await audit.queue(_event(f"t{n}")) for n in range(2)]
        third = asyncio.ensure_future(audit.queue(_event("t2")))
        await asyncio.sleep(0)
        assert not third.done()  # no room until the first flush ends
        await asyncio.gather(*queued)
        await (await third)
        assert sorted(e.target for e in await audit.query()) == ["t0", "t1", "t2"]
    finally:
        await database.close()


async def test_closing_the_database_commits_the_rows_behind(tmp_path: object) -> None:
    """Rows queued behind are committed before the database closes (a clean shutdown)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/data/a.db"
    database = await Database.open(url)
    try:
        audit = AuditRepository.on(database)
        for n in range(3):
            await audit.queue(_event(f"t{n}"))
    finally:
        await database.close()
    database = await Database.open(url)
    try:
        assert len(await AuditRepository.on(database).query()) == 3
    finally:
        await database.close()


async def test_a_row_behind_that_fails_fails_its_future(tmp_path: object) -> None:
    """A row the database refuses fails the future ``append_behind`` gave back; the room it
    held is given back."""
    database = await Database.open(f"sqlite+aiosqlite:///{tmp_path}/data/a.db")
    try:
        commits = GroupCommit(None, database.writing, behind_limit=1)
        audit = AuditRepository(database.read_engine, writing=database.writing, commits=commits)
        bad = await audit.queue(_event("bad", at=datetime(2026, 11, 30, 12, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            await bad
        await (await audit.queue(_event("good")))
        assert [e.target for e in await audit.query()] == ["good"]
    finally:
        await database.close()
