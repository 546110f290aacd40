"""Group commit for the per-slide state writes, on SQLite and PostgreSQL.

SQLite has one writer, and through aiosqlite every statement and every commit is a hop to
the connection's thread (~0.1-0.2 ms each). With many slides in flight, their single-row
UPDATEs would queue for the write lock one transaction each. Instead, writes that arrive
while a flush is running wait for the next flush, which runs them all in one transaction
(one ``executemany`` per statement shape) and one commit. Each caller still returns only
after its own write is committed, and still learns whether its row existed.

On PostgreSQL a write on its own is four round trips (pool ping, BEGIN, UPDATE, COMMIT), and
measured under load (``slidebatch bench --load``) those socket writes were 40% of the event
loop's time. asyncpg pipelines an ``executemany`` but reports no row counts, so there one
``present`` query after it tells which rows exist (``present`` is asked only when the driver
gave no count).

Rows that only need inserting (the audit trail: one per status poll) ride in the same
transactions (``append``): forty polls a second add a few statements to commits that happen
anyway, instead of a transaction of their own beside each slide flush.

A row may also be written behind (``append_behind``): queued for the next flush, its caller
goes on at once instead of waiting for the flush in progress and then its own (behind the
slide writes, that wait was most of a status poll's time under load). The queue keeps the
order rows came in and is bounded (``BEHIND_LIMIT``): when it is full the caller waits for
room, so a database that cannot keep up slows the callers rather than dropping rows or
growing without end. A row behind is committed by the next flush, and ``wait_idle`` (the
database's close) waits for it; what a crash can lose is the rows queued since the last
commit, never more than ``BEHIND_LIMIT`` and in practice one flush's worth (milliseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, Insert, Update
from sqlalchemy.ext.asyncio import AsyncConnection

Writing = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
# Rows written behind and not yet committed, at most (``append_behind`` waits for room).
BEHIND_LIMIT = 1000
# Given the parameter sets just applied in this transaction: 1 for each row that exists, else 0.
Present = Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[list[int]]]


@dataclass(slots=True)
class _Write:
    params: dict[str, Any]
    done: asyncio.Future[int]


@dataclass(slots=True)
class _Row:
    statement: Insert
    params: dict[str, Any]
    done: asyncio.Future[None]


class GroupCommit:
    """Runs one UPDATE statement for many parameter sets, batched into shared commits.

    The statement's SET clause comes from the parameter names (SQLAlchemy's executemany
    form of ``update().where(col == bindparam(...))``); writes with the same names share
    one ``executemany``. ``present`` answers for drivers whose ``executemany`` has no
    row count (asyncpg); without it such writes are re-run one by one to learn theirs.
    ``variants``: a write carrying the parameter named by a key runs that statement instead
    (one that adds to a column, e.g.); such writes are not idempotent, so rows missing from a
    group are then found with ``present``, never by re-running the group's writes.
    ``follow``: a write carrying the parameter named by a key also runs that statement, with
    the same parameters, in the same transaction right after its UPDATE (a ledger row of
    what the UPDATE added, e.g.); it must itself skip writes whose row does not exist.
    """

    def __init__(
        self,
        statement: Update | None,
        writing: Writing,
        *,
        present: Present | None = None,
        variants: Mapping[str, Update] | None = None,
        follow: Mapping[str, Executable] | None = None,
        behind_limit: int = BEHIND_LIMIT,
    ):
        self._statement = statement
        self._variants = dict(variants or {})
        self._follow = dict(follow or {})
        self._writing = writing
        self._present = present
        self._pending: list[_Write] = []
        self._rows: list[_Row] = []
        self._flusher: asyncio.Task[None] | None = None
        # One slot per row written behind, given back when its flush ends (FIFO waiters).
        self._room = asyncio.Semaphore(behind_limit)

    async def execute(self, params: dict[str, Any]) -> int:
        """Apply one parameter set; returns its rowcount once it is committed."""
        if self._statement is None:
            raise TypeError("this group commit only appends rows")
        write = _Write(params, asyncio.get_running_loop().create_future())
        self._pending.append(write)
        self._start()
        return await write.done

    async def append(self, statement: Insert, params: dict[str, Any]) -> None:
        """Insert one row (``statement`` with ``params``) in the next flush's transaction;
        returns once it is committed. Rows of one statement share one ``executemany``."""
        row = _Row(statement, params, asyncio.get_running_loop().create_future())
        self._rows.append(row)
        self._start()
        await row.done

    async def append_behind(
        self, statement: Insert, params: dict[str, Any]
    ) -> asyncio.Future[None]:
        """Queue one row for the next flush and return once it is queued, without waiting for
        its commit: the future returned holds the commit's outcome (an exception when the row
        could not be stored; cancelled when the loop shut down first). Waits while
        ``behind_limit`` rows are queued already. Rows keep their order with ``append``'s."""
        await self._room.acquire()
        row = _Row(statement, params, asyncio.get_running_loop().create_future())
        row.done.add_done_callback(lambda _: self._room.release())
        self._rows.append(row)
        self._start()
        return row.done

    def _start(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._drain())

    async def wait_idle(self) -> None:
        """Return once no flush is running (call before disposing of the engine)."""
        while self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flusher)

    async def _drain(self) -> None:
        batch: list[_Write] = []
        rows: list[_Row] = []
        try:
            while self._pending or self._rows:
                batch, self._pending = self._pending, []
                rows, self._rows = self._rows, []
                await self._flush(batch, rows)
        finally:
            # Only reached with waiters left if this task was cancelled (loop shutdown).
            waiting = [w.done for w in batch + self._pending] + [r.done for r in rows + self._rows]
            for done in waiting:
                if not done.done():
                    done.cancel()

    async def _flush(self, batch: list[_Write], rows: list[_Row]) -> None:
        try:
            counts = await self._run_together(batch, rows)
        except Exception:
            # One bad write (a naive datetime, a lost table) must not fail its neighbours:
            # run them one by one so each caller gets its own outcome; the rows on their own.
            for write in batch:
                await self._run_alone(write)
            await self._insert_alone(rows)
            return
        for write, count in zip(batch, counts, strict=True):
            if not write.done.done():
                write.done.set_result(count)
        for row in rows:
            if not row.done.done():
                row.done.set_result(None)

    async def _run_together(self, batch: list[_Write], rows: list[_Row]) -> list[int]:
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, write in enumerate(batch):
            groups.setdefault(tuple(sorted(write.params)), []).append(index)
        counts = [0] * len(batch)
        async with self._writing() as connection:
            await _insert_rows(connection, rows)
            for names, indexes in groups.items():
                params = [batch[i].params for i in indexes]
                statement = self._statement_for(names)
                result = await connection.execute(statement, params)
                await self._run_follow(connection, names, params)
                if result.rowcount == len(indexes):
                    for i in indexes:
                        counts[i] = 1
                    continue
                if self._present is not None and (
                    result.rowcount < 0 or statement is not self._statement
                ):
                    found = await self._present(connection, params)
                    for i, count in zip(indexes, found, strict=True):
                        counts[i] = count
                    continue
                # Some rows were missing: re-run one by one (same values, idempotent) to
                # learn which.
                for i in indexes:
                    single = await connection.execute(statement, batch[i].params)
                    counts[i] = single.rowcount
        return counts

    async def _run_follow(
        self, connection: AsyncConnection, names: tuple[str, ...], params: list[dict[str, Any]]
    ) -> None:
        for name, statement in self._follow.items():
            if name in names:
                await connection.execute(statement, params)

    def _statement_for(self, names: tuple[str, ...]) -> Update:
        for name, statement in self._variants.items():
            if name in names:
                return statement
        if self._statement is None:
            raise TypeError("this group commit only appends rows")
        return self._statement

    async def _insert_alone(self, rows: list[_Row]) -> None:
        """The rows of a failed flush in a transaction of their own; a failure fails them all."""
        if not rows:
            return
        try:
            async with self._writing() as connection:
                await _insert_rows(connection, rows)
        except Exception as exc:
            for row in rows:
                if not row.done.done():
                    row.done.set_exception(exc)
            return
        for row in rows:
            if not row.done.done():
                row.done.set_result(None)

    async def _run_alone(self, write: _Write) -> None:
        if write.done.done():
            return
        try:
            async with self._writing() as connection:
                names = tuple(write.params)
                result = await connection.execute(self._statement_for(names), write.params)
                await self._run_follow(connection, names, [write.params])
        except Exception as exc:
            with contextlib.suppress(asyncio.InvalidStateError):
                write.done.set_exception(exc)
            return
        with contextlib.suppress(asyncio.InvalidStateError):
            write.done.set_result(result.rowcount)


async def _insert_rows(connection: AsyncConnection, rows: list[_Row]) -> None:
    """Every row, one ``executemany`` per statement, in the order they came."""
    by_statement: dict[int, tuple[Insert, list[dict[str, Any]]]] = {}
    for row in rows:
        by_statement.setdefault(id(row.statement), (row.statement, []))[1].append(row.params)
    for statement, params in by_statement.values():
        await connection.execute(statement, params)
