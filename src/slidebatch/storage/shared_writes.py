"""Concurrent writes of one kind sharing a transaction, each caller with its own outcome.

Thirty submits at once were thirty transactions queued on SQLite's write lock, each a
handful of thread hops (cursor, execute, close, commit) stretched by the event loop serving
the other requests between them: the last batch was stored ~250 ms after the first. Here a
write that arrives while a transaction is running waits for the next one, which applies
every waiting write in one go (``apply`` does it with one ``executemany`` per statement). On
PostgreSQL the same saves the BEGIN and COMMIT round trips of each.

When a shared transaction fails (a unique key two callers raced for, a lost database), each
of its writes is tried again alone in a transaction of its own, so one bad write fails only
its own caller, with its own error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

W = TypeVar("W")
Writing = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
# Applies the writes given, in their order, inside the open transaction of ``connection``.
Apply = Callable[[AsyncConnection, Sequence[W]], Awaitable[None]]


@dataclass(slots=True)
class _Waiting(Generic[W]):
    write: W
    done: asyncio.Future[None]


class SharedWrites(Generic[W]):
    """Applies writes of one kind (``W``: what ``apply`` needs for one) in shared transactions.

    ``writing`` opens a write transaction (``Database.writing``: under SQLite's write lock);
    ``apply`` runs a list of writes in it. Errors raised by ``apply`` reach the callers as
    raised (translate driver errors inside ``apply`` or around ``write``).
    """

    def __init__(self, writing: Writing, apply: Apply[W]) -> None:
        self._writing = writing
        self._apply = apply
        self._waiting: list[_Waiting[W]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, write: W) -> None:
        """Apply ``write``; returns once it is committed, raises what failed it."""
        waiting = _Waiting(write, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._drain())
        await waiting.done

    async def wait_idle(self) -> None:
        """Return once no transaction of these writes is running."""
        while self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flusher)

    async def _drain(self) -> None:
        taken: list[_Waiting[W]] = []
        try:
            while self._waiting:
                taken, self._waiting = self._waiting, []
                await self._flush(taken)
        finally:
            # Only reached with callers left waiting if this task was cancelled.
            for waiting in taken + self._waiting:
                if not waiting.done.done():
                    waiting.done.cancel()

    async def _flush(self, taken: list[_Waiting[W]]) -> None:
        try:
            await self._together([w.write for w in taken])
        except Exception as exc:
            if len(taken) == 1:
                _settle(taken[0].done, exc)
                return
            for waiting in taken:
                await self._alone(waiting)
            return
        for waiting in taken:
            _settle(waiting.done, None)

    async def _together(self, writes: list[W]) -> None:
        async with self._writing() as connection:
            await self._apply(connection, writes)

    async def _alone(self, waiting: _Waiting[W]) -> None:
        try:
            await self._together([waiting.write])
        except Exception as exc:
            _settle(waiting.done, exc)
            return
        _settle(waiting.done, None)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # the caller was cancelled meanwhile
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
