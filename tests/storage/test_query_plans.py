"""Query plans of the reads a poll, a submit or a list makes, on SQLite and PostgreSQL.

Plans are asked of the database for the statements the repositories really sent (captured as
they go out). PostgreSQL gets ``enable_seqscan = off``: these tables are tiny, where a scan is
the cheapest plan; the question is whether an index can serve the query at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, update
from storage_helpers import T0, deck

from slidebatch.storage.database import Database
from slidebatch.storage.keys import UsageRepository
from slidebatch.storage.tables import SlidePaymentRow, SlideRow


async def _sent(db: Database, call: Callable[[], Awaitable[object]]) -> list[tuple[str, Any]]:
    """The statements (and their parameters) ``call`` sent."""
    seen: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        seen.append((args[2], args[3]))

    # The read engine is the engine with other options: its statements fire these events too.
    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await call()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def _plan(db: Database, statement: str, parameters: Any) -> str:
    async with db.engine.connect() as connection:
        if db.engine.dialect.name == "postgresql":
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        else:
            rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[-1]) for row in rows)


async def _history(db: Database, owner: str, *, batches: int = 40) -> None:
    """``batches`` old paid batches of 20 slides (finished days before T0), one paid batch
    finished after T0, and fresh statistics: the shape of a key's real history."""
    ids = []
    for _ in range(batches + 1):
        record, _ = await db.batches.create_batch(
            request=deck(20), final_prompts=["p"] * 20, effective_workers=None, owner=owner,
            idempotency_key=None,
        )  # fmt: skip
        ids.append(record.id)
    slides = SlideRow.__table__
    payments = SlidePaymentRow.__table__
    async with db.engine.begin() as connection:
        for n, batch_id in enumerate(ids):
            at = T0 + timedelta(minutes=5) if n == batches else T0 - timedelta(days=3, minutes=n)
            await connection.execute(
                update(slides)
                .where(slides.c.batch_id == batch_id)
                .values(state="done", cost=0.1, spent=0.1, finished_at=at)
            )
            await connection.execute(
                insert(payments),
                [
                    {"batch_id": batch_id, "slide_key": key, "cost": 0.1, "paid_at": at}
                    for key in range(1, 21)
                ],
            )
    async with db.engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
        await connection.commit()


async def test_latest_prices_come_from_the_paid_slides_index_in_order(db: Database) -> None:
    """The mean of the latest prices reads ix_slides_spent_finished newest first: no sort of
    every priced slide."""
    await _history(db, "k")
    usage = UsageRepository.on(db)
    [(statement, parameters)] = await _sent(db, usage.mean_cost)
    plan = await _plan(db, statement, parameters)
    assert "ix_slides_spent_finished" in plan, plan
    assert "Sort" not in plan, plan
    assert "TEMP B-TREE" not in plan, plan


async def test_a_keys_spend_today_reads_the_payments_index(postgres_url: str) -> None:
    """A key's spend since midnight finds today's payments by ix_slide_payments_paid_at, not
    every payment of every batch the key ever made (PostgreSQL; SQLite starts from the key's
    batches, one process's history)."""
    db = await Database.open(postgres_url)
    try:
        await _spend_today_plan(db)
    finally:
        await db.close()


async def _spend_today_plan(db: Database) -> None:
    await _history(db, "k")
    usage = UsageRepository.on(db)
    [(statement, parameters)] = await _sent(db, lambda: usage.spend_since("k", T0))
    assert await usage.spend_since("k", T0) == pytest.approx(2.0)
    plan = await _plan(db, statement, parameters)
    assert "ix_slide_payments_paid_at" in plan, plan


async def _slides_read(db: Database, batch_id: str, keys: set[int]) -> tuple[set[int], set[str]]:
    """The keys of the slides a status read of ``keys`` got, and the texts it sent for them."""
    found: set[int] = set()

    async def read() -> None:
        _, slides = await db.batches.get_batch_with_slides(batch_id, keys=keys)
        found.update(s.key for s in slides)

    sent = await _sent(db, read)
    return found, {statement for statement, _ in sent if "FROM slides" in statement}


async def test_reads_by_a_set_of_keys_send_one_text_whatever_its_size(database_url: str) -> None:
    """Reading 1 or 3 changed slides sends the same statement on PostgreSQL (``= ANY`` of an
    array: one prepared statement), where an IN list was a new text, and a new prepare, for
    every count; SQLite keeps its IN list. The slides read are the ones asked for."""
    db = await Database.open(database_url)
    try:
        record, _ = await db.batches.create_batch(
            request=deck(5), final_prompts=["p"] * 5, effective_workers=None, owner=None,
            idempotency_key=None,
        )  # fmt: skip
        one, one_sent = await _slides_read(db, record.id, {1})
        three, three_sent = await _slides_read(db, record.id, {0, 2, 4})
    finally:
        await db.close()
    assert (one, three) == ({1}, {0, 2, 4})
    if database_url.startswith("postgresql"):
        assert one_sent == three_sent
        assert "ANY" in next(iter(one_sent))
    else:
        assert one_sent != three_sent
