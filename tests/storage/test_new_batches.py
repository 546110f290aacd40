"""New batches' slides go in with one statement and come back as given, on every backend."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, select
from storage_helpers import deck

from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import SlideState
from slidebatch.storage.database import Database
from slidebatch.storage.tables import SlideRow

_AWKWARD = (
    "",
    "quotes ' \" and a backslash \\ and {braces}",
    "line one\nline two\ttabbed",
    "标题 and emoji \U0001f600",
    "NULL",
)


def _awkward_deck(batch: int) -> BatchRequest:
    slides = tuple(
        Slide(
            id=f"c,{batch}.{n}",
            page_num=n + 1,
            type=SlideType.COVER if n == 0 else SlideType.CONTENT,
            title=text,
            content_text=text * 2,
            visual_desc=f"{text} {batch}",
        )
        for n, text in enumerate(_AWKWARD)
    )
    return BatchRequest(slides=slides, style_prompt="flat")


async def _create(db: Database, request: BatchRequest) -> str:
    record, _ = await db.batches.create_batch(
        request=request,
        final_prompts=[f"prompt {s.title}" for s in request.slides],
        effective_workers=None,
        owner=None,
        idempotency_key=None,
    )
    return record.id


async def test_slides_created_together_come_back_as_sent(db: Database) -> None:
    """Slides of batches created at once keep every text as sent, pending with no attempts."""
    requests = [_awkward_deck(n) for n in range(6)]
    ids = await asyncio.gather(*(_create(db, r) for r in requests))
    for batch_id, request in zip(ids, requests, strict=True):
        stored = await db.batches.get_slides(batch_id)
        assert [s.slide for s in stored] == list(request.slides)
        assert [s.key for s in stored] == list(range(len(_AWKWARD)))
        assert [s.final_prompt for s in stored] == [f"prompt {t}" for t in _AWKWARD]
        assert {(s.state, s.attempts, s.requeues, s.placeholder) for s in stored} == {
            (SlideState.PENDING, 0, 0, False)
        }


async def test_new_slides_take_the_columns_defaults(db: Database) -> None:
    """Columns a new slide leaves out start at their defaults (lease attempt, rounds, cost)."""
    batch_id = await _create(db, deck(3))
    columns = SlideRow.__table__.c  # type: ignore[attr-defined]
    query = select(columns.attempt_seq, columns.rounds_left, columns.cost_estimated).where(
        columns.batch_id == batch_id
    )
    async with db.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    assert [tuple(r) for r in rows] == [(0, 0, False)] * 3


async def test_slides_of_batches_created_together_are_one_statement(db: Database) -> None:
    """Batches created at once insert all their slides with one statement (no executemany
    on PostgreSQL)."""
    inserts: list[bool] = []

    def seen(*args: Any) -> None:
        statement, executemany = args[2], args[5]
        if statement.startswith("INSERT INTO slides"):
            inserts.append(executemany)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await asyncio.gather(*(_create(db, deck(4)) for _ in range(8)))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    # The first create runs alone; the seven that arrived meanwhile share the next one.
    assert len(inserts) <= 2
    assert inserts == [db.engine.dialect.name != "postgresql"] * len(inserts)
