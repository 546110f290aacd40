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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, Update
from sqlalchemy.ext.asyncio import AsyncConnection

Writing = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
# Given the parameter sets just applied in this transaction: 1 for each row that exists, else 0.
Present = Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[list[int]]]


@dataclass(slots=True)
class _Write:
    params: dict[str, Any]
    done: asyncio.Future[int]


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
        statement: Update,
        writing: Writing,
        *,
        present: Present | None = None,
        variants: Mapping[str, Update] | None = None,
        follow: Mapping[str, Executable] | None = None,
    ):
        self._statement = statement
        self._variants = dict(variants or {})
        self._follow = dict(follow or {})
        self._writing = writing
        self._present = present
        self._pending: list[_Write] = []
        self._flusher: asyncio.Task[None] | None = None

    async def execute(self, params: dict[str, Any]) -> int:
        """Apply one parameter set; returns its rowcount once it is committed."""
        write = _Write(params, asyncio.get_running_loop().create_future())
        self._pending.append(write)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._drain())
        return await write.done

    async def wait_idle(self) -> None:
        """Return once no flush is running (call before disposing of the engine)."""
        while self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flusher)

    async def _drain(self) -> None:
        batch: list[_Write] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._flush(batch)
        finally:
            # Only reached with waiters left if this task was cancelled (loop shutdown).
            for write in batch + self._pending:
                if not write.done.done():
                    write.done.cancel()

    async def _flush(self, batch: list[_Write]) -> None:
        try:
            counts = await self._run_together(batch)
        except Exception:
            # One bad write (a naive datetime, a lost table) must not fail its neighbours:
            # run them one by one so each caller gets its own outcome.
            for write in batch:
                await self._run_alone(write)
            return
        for write, count in zip(batch, counts, strict=True):
            if not write.done.done():
                write.done.set_result(count)

    async def _run_together(self, batch: list[_Write]) -> list[int]:
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, write in enumerate(batch):
            groups.setdefault(tuple(sorted(write.params)), []).append(index)
        counts = [0] * len(batch)
        async with self._writing() as connection:
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
        return self._statement

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
