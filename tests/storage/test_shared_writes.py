"""Writes that arrive together share a transaction; a failing one fails only its caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection
from storage_helpers import deck

from slidebatch.storage.database import Database
from slidebatch.storage.shared_writes import SharedWrites


class _Ledger:
    """A fake database: a transaction's writes are kept only if it ends without an error."""

    def __init__(self) -> None:
        self.committed: list[list[str]] = []
        self.open: list[str] | None = None
        self.opened = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        self.open = []
        self.opened.set()
        await self.release.wait()
        yield cast(AsyncConnection, None)
        self.committed.append(self.open)

    async def apply(self, _connection: AsyncConnection, writes: Sequence[str]) -> None:
        for write in writes:
            if write.startswith("bad"):
                raise ValueError(write)
            assert self.open is not None
            self.open.append(write)


async def test_writes_arriving_during_a_transaction_share_the_next_one() -> None:
    """The first write runs alone; the three sent while it runs commit together after it."""
    ledger = _Ledger()
    ledger.release.clear()
    writes = SharedWrites(ledger.writing, ledger.apply)
    first = asyncio.create_task(writes.write("a"))
    await ledger.opened.wait()
    rest = [asyncio.create_task(writes.write(w)) for w in ("b", "c", "d")]
    await asyncio.sleep(0)
    ledger.release.set()
    await asyncio.gather(first, *rest)
    assert ledger.committed == [["a"], ["b", "c", "d"]]


async def test_a_failing_write_fails_only_its_caller() -> None:
    """A shared transaction that fails is run again write by write: each caller gets its own
    outcome, and the good writes are stored."""
    ledger = _Ledger()
    writes = SharedWrites(ledger.writing, ledger.apply)
    outcomes = await asyncio.gather(
        *(writes.write(w) for w in ("a", "bad-b", "c")), return_exceptions=True
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], ValueError)
    assert str(outcomes[1]) == "bad-b"
    assert ledger.committed == [["a"], ["c"]]


async def test_a_lone_failing_write_is_not_tried_twice() -> None:
    """A write alone in its transaction gets its error at once (no second attempt)."""
    ledger = _Ledger()
    tried: list[str] = []

    async def apply(connection: AsyncConnection, batch: Sequence[str]) -> None:
        tried.extend(batch)
        await ledger.apply(connection, batch)

    with pytest.raises(ValueError, match="bad"):
        await SharedWrites(ledger.writing, apply).write("bad")
    assert tried == ["bad"]


async def test_creates_sent_together_commit_once_and_queue_in_order(db: Database) -> None:
    """Ten batches created at once are one commit, with every slide, and take their queue
    places in the order the creates were made."""
    commits: list[Any] = []

    def committed(connection: Any) -> None:
        commits.append(connection)

    event.listen(db.engine.sync_engine, "commit", committed)
    try:
        made = await asyncio.gather(
            *(
                db.batches.create_batch(
                    request=deck(4, title=f"deck {n}"),
                    final_prompts=["p"] * 4,
                    effective_workers=None,
                    owner=None,
                    idempotency_key=None,
                )
                for n in range(10)
            )
        )
    finally:
        event.remove(db.engine.sync_engine, "commit", committed)
    assert len(commits) == 1
    ids = [record.id for record, _ in made]
    assert [b.id for b in await db.batches.queued_batches()] == ids
    for record, created in made:
        assert created
        assert [s.key for s in await db.batches.get_slides(record.id)] == [0, 1, 2, 3]
        assert await db.batches.get_batch(record.id) == record
