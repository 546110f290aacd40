"""A key's quota hold across processes on PostgreSQL: a session-level advisory lock.

API processes of a fleet share one database, so the in-process hold of ``QuotaGuard``
(``security/quota_guard.py``) cannot stop two of them from passing one key's check on the
same count. ``PgKeyHold`` adds, for one key, ``pg_advisory_lock(QUOTA_HOLD_NAMESPACE,
hashtext(key_id))`` on one pooled connection kept for the hold: the other processes' holds
of that key wait in PostgreSQL until it is unlocked. The guard takes it after its own
per-key lock, so a process queues its own submits of a key locally and uses at most one
connection per key; ``slots`` caps the connections all holds use together, so that the
work done under the holds (the checks' reads, the batch's insert) always finds one free.

Every exit gives the lock up. A clean one unlocks and returns the connection to the pool.
A lock wait that is interrupted (cancelled, failed) may have been granted just before, and
an unlock that fails leaves the lock in doubt: then the connection is invalidated, which
ends its session, and PostgreSQL drops every lock of a session with it. The release runs
shielded, so a second cancellation cannot leave a connection checked out either.
SQLite has one process per data dir (``storage/ownership.py``): it needs none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slidebatch.storage.errors import translated

# The first int of the two-int advisory lock form ("quota" hold): pg_locks shows it as
# classid with objsubid 2, so it never meets the one-bigint locks of the owner
# (pg_owner.OWNER_LOCK_KEY), migrations or fleet admission (objsubid 1). Fixed for every
# version: processes of two releases in one fleet must take the same lock.
QUOTA_HOLD_NAMESPACE = 0x5154_0001
_LOCK = text("SELECT pg_advisory_lock(:namespace, hashtext(:key_id))")
_UNLOCK = text("SELECT pg_advisory_unlock(:namespace, hashtext(:key_id))")


def key_hold_across_processes(engine: AsyncEngine, *, pool_size: int) -> PgKeyHold | None:
    """The key hold for ``engine``'s database: a ``PgKeyHold`` on PostgreSQL, whose holds keep
    at most half of the ``pool_size`` connections; ``None`` on SQLite (one process)."""
    if engine.dialect.name != "postgresql":
        return None
    return PgKeyHold(engine, slots=max(1, pool_size // 2))


class PgKeyHold:
    """``async with hold(key_id):`` holds ``key_id`` against every process on the database.

    ``engine``: the database's engine (PostgreSQL); ``slots``: how many holds of this process
    may keep a connection at once (the others wait for one), below the pool's size.
    Entering waits for the lock without a bound of its own (a connection's
    ``command_timeout`` ends the wait); a database error while taking it raises
    ``StorageUnavailable``. Holds of different keys wait on each other only for a slot (and
    two key ids whose ``hashtext`` agree for the lock: harmless, they are checked in turn).
    """

    def __init__(self, engine: AsyncEngine, *, slots: int) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("an advisory-lock key hold needs PostgreSQL")
        if slots < 1:
            raise ValueError("slots must be at least 1")
        # The lock is the session's, not a transaction's: no transaction stays open for it.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._slots = asyncio.Semaphore(slots)
        self._releasing: set[asyncio.Task[None]] = set()  # kept alive past a cancelled hold

    @contextlib.asynccontextmanager
    async def __call__(self, key_id: str) -> AsyncIterator[None]:
        params = {"namespace": QUOTA_HOLD_NAMESPACE, "key_id": key_id}
        async with self._slots:
            with translated("hold the key's quota"):
                connection = await self._engine.connect()
            try:
                with translated("hold the key's quota"):
                    await connection.execute(_LOCK, params)
            except BaseException:
                await self._shielded(_end_session(connection))  # granted or not: unknown
                raise
            try:
                yield
            finally:
                await self._shielded(_release(connection, params))

    async def _shielded(self, release: Coroutine[Any, Any, None]) -> None:
        """Run ``release`` to its end even if the caller is cancelled meanwhile (the caller
        then sees its ``CancelledError`` at once, as usual, and the release goes on)."""
        task = asyncio.ensure_future(release)
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)
        await asyncio.shield(task)


async def _release(connection: AsyncConnection, params: dict[str, Any]) -> None:
    """Unlock and return the connection to the pool; if that fails, end the session."""
    try:
        await connection.execute(_UNLOCK, params)
        await connection.close()
    except Exception:  # a dead connection: its session, and the lock, are gone or going
        await _end_session(connection)


async def _end_session(connection: AsyncConnection) -> None:
    """Close the connection's session (its locks go with it); the pool opens a new one."""
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()
