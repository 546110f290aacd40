"""Slide writes and audit rows that arrive together share one transaction and one commit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import event
from tests.storage.storage_helpers import deck

from slidebatch.core.audit import AuditAction, AuditEvent, AuditOutcome
from slidebatch.core.states import SlideState
from slidebatch.storage.audit import AuditRepository
from slidebatch.storage.database import Database
from slidebatch.storage.errors import StorageUnavailable

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
        assert outcomes[0] is None
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
