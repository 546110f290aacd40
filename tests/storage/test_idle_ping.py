"""PostgreSQL pool connections are pinged after sitting idle, not at every checkout."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from slidebatch.storage.database import Database
from slidebatch.storage.idle_ping import PingWhenIdle, ping_when_idle

pytestmark = pytest.mark.postgres


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _one_connection(postgres_url: str) -> tuple[AsyncEngine, PingWhenIdle, FakeClock]:
    engine = create_async_engine(postgres_url, pool_size=1, max_overflow=0)
    clock = FakeClock()
    return engine, ping_when_idle(engine, idle_seconds=10.0, clock=clock), clock


async def test_a_connection_back_from_work_a_moment_ago_is_not_pinged(postgres_url: str) -> None:
    """Uses within the idle time reuse the connection with no ping before them."""
    engine, hooks, clock = await _one_connection(postgres_url)
    try:
        first = await _backend_pid(engine)
        clock.now += 9.0
        assert await _backend_pid(engine) == first
        clock.now += 9.0
        assert await _backend_pid(engine) == first
        assert hooks.pings == 0
    finally:
        await engine.dispose()


async def test_an_idle_connection_that_died_is_replaced_before_use(postgres_url: str) -> None:
    """A connection idle past the limit is pinged; a dead one (its backend terminated) gives way
    to a fresh one and the caller's statement succeeds."""
    engine, hooks, clock = await _one_connection(postgres_url)
    admin = create_async_engine(postgres_url)
    try:
        first = await _backend_pid(engine)
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        clock.now += 11.0
        second = await _backend_pid(engine)
        assert second != first
        assert hooks.pings == 1
    finally:
        await engine.dispose()
        await admin.dispose()


async def test_an_idle_live_connection_is_pinged_and_kept(postgres_url: str) -> None:
    """A live connection idle past the limit answers its ping and is used."""
    engine, hooks, clock = await _one_connection(postgres_url)
    try:
        first = await _backend_pid(engine)
        clock.now += 11.0
        assert await _backend_pid(engine) == first
        assert hooks.pings == 1
    finally:
        await engine.dispose()


async def test_the_database_pool_does_not_ping_at_every_checkout(postgres_url: str) -> None:
    """``Database.open`` on PostgreSQL leaves SQLAlchemy's pre-ping off (idle pings instead)."""
    database = await Database.open(postgres_url)
    try:
        assert database.engine.sync_engine.pool._pre_ping is False
        assert await database.ping()
    finally:
        await database.close()
