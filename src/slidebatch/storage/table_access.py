"""What every small repository over the shared database needs: reads, locked writes, a clock.

``Writing`` is the database's write context (``Database.writing``: one writer at a time on
SQLite). Repositories built on :class:`TableAccess` translate driver errors per action
(``storage.errors.translated``) and never hand an ORM row upward.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slidebatch.storage.errors import translated

if TYPE_CHECKING:
    from slidebatch.storage.database import Database

Writing = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


def utc_now() -> datetime:
    """The wall clock in UTC (the default ``now`` of a repository)."""
    return datetime.now(UTC)


class TableAccess:
    """A repository's engine, write lock and clock, with translated read and write blocks."""

    def __init__(
        self, engine: AsyncEngine, *, writing: Writing, now: Callable[[], datetime] = utc_now
    ) -> None:
        self._engine = engine
        self._writing = writing
        self._now = now

    @classmethod
    def on(cls, database: Database) -> Self:
        """A repository on an open ``Database`` (shares its write lock)."""
        return cls(database.read_engine, writing=database.writing)

    @asynccontextmanager
    async def _read(self, action: str) -> AsyncIterator[AsyncConnection]:
        """A read connection; driver errors become ``StorageUnavailable`` naming ``action``."""
        with translated(action):
            async with self._engine.connect() as connection:
                yield connection

    @asynccontextmanager
    async def _write(self, action: str) -> AsyncIterator[AsyncConnection]:
        """A connection under the write lock, in one transaction; errors translated."""
        with translated(action):
            async with self._writing() as connection:
                yield connection
