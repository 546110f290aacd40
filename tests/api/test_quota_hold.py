"""The quota hold of a key (``QuotaGuard.admitting``) within a process and across processes.

On PostgreSQL the hold is also an advisory lock (``storage/pg_key_hold.py``): two API
processes of a fleet are played here by two ``Services`` (or two ``Database``s, each with
its own pool and guard) on one database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from slidebatch.config import load_settings
from slidebatch.core.access import Caller, Principal, Role
from slidebatch.core.quota import Quotas
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.errors import QuotaExceeded
from slidebatch.scheduler.clock import SystemClock
from slidebatch.security.quota_guard import QuotaGuard
from slidebatch.services import FleetRole, Services, build_services
from slidebatch.storage.database import Database
from slidebatch.storage.keys import KeyRepository, UsageRepository
from slidebatch.storage.pg_key_hold import (
    QUOTA_HOLD_NAMESPACE,
    PgKeyHold,
    key_hold_across_processes,
)
from slidebatch.testing.scripted_provider import ScriptedProvider

_LOCKS = """
SELECT count(*) FILTER (WHERE granted) AS held, count(*) FILTER (WHERE NOT granted) AS waiting
FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 2 AND classid = $1::bigint::oid
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_HOLDER_PID = """
SELECT pid FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 2 AND classid = $1::bigint::oid AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _deck(slides: int) -> BatchRequest:
    return BatchRequest(
        slides=tuple(Slide(f"s{i}", i + 1, SlideType.CONTENT, f"t{i}") for i in range(slides)),
        style_prompt="flat",
    )


def _tight(quotas: Quotas, key_id: str = "k1") -> Principal:
    return Principal(key_id=key_id, name="tight", role=Role.USER, quotas=quotas)


async def _fetch(url: str, sql: str, *args: object) -> asyncpg.Record:
    """The first row of ``sql`` on ``url``'s database, through a connection of its own."""
    connection = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5)
    try:
        return await connection.fetchrow(sql, *args)
    finally:
        await connection.close()


async def _locks(url: str) -> tuple[int, int]:
    """``(held, waiting)``: the quota-hold advisory locks in ``url``'s database."""
    row = await _fetch(url, _LOCKS, QUOTA_HOLD_NAMESPACE)
    return int(row["held"]), int(row["waiting"])


def _locks_are(url: str, expected: tuple[int, int]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await _locks(url) == expected

    return check


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it is true (a guard against a hang, not a timing claim)."""
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never came true")


def _checked_out(engine: AsyncEngine) -> int:
    return engine.pool.checkedout()  # type: ignore[attr-defined,no-any-return]


@asynccontextmanager
async def _api_processes(root: Path, url: str, count: int) -> AsyncIterator[list[Services]]:
    """``count`` fleet API processes' services (no worker) on the database ``url``."""
    settings = load_settings(data_dir=root / "data", log_dir=root / "logs", database_url=url)
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                build_services(
                    settings, provider=ScriptedProvider(SystemClock()), fleet=FleetRole(api=True)
                )
            )
            for _ in range(count)
        ]


async def _submit(services: Services, caller: Caller, slides: int) -> bool:
    """The batch route's admission: True if stored, False if the quota refused it."""
    try:
        async with services.quota_hold(caller):
            await services.check_quota(caller, slides)
            await services.engine.submit(_deck(slides), owner=caller.owner, admit_later=True)
    except QuotaExceeded:
        return False
    return True


@pytest.mark.postgres
@pytest.mark.parametrize(
    "quotas",
    [Quotas(max_slides_per_day=3), Quotas(max_concurrent_batches=1)],
    ids=["slides-per-day", "concurrent-batches"],
)
async def test_two_api_processes_never_overrun_a_key_quota(
    tmp_path: Path, postgres_url: str, quotas: Quotas
) -> None:
    """Eight 2-slide submits of one key, four through each of two API processes on one
    PostgreSQL database, against 3 slides a day (or 1 batch at once): exactly one is stored
    (each process's own hold let one through on the same count before)."""
    async with _api_processes(tmp_path, postgres_url, 2) as processes:
        key, _ = await KeyRepository.on(processes[0].database).create(name="t", quotas=quotas)
        caller = Caller(Principal.of_key(key), client="test")
        stored = await asyncio.gather(*(_submit(processes[i % 2], caller, 2) for i in range(8)))
        database = processes[0].database
        slides = await UsageRepository.on(database).slides_since(key.id, processes[0].quota.today())
        active = sum((await database.batches.count_active(key.id)).values())
    assert sorted(stored) == [False] * 7 + [True]
    assert (slides, active) == (2, 1)


async def test_one_process_checks_a_key_in_turn_on_every_backend(database_url: str) -> None:
    """Five concurrent check-and-store passes of one key allowed 3 slides a day, in one
    process: one is stored (SQLite: the in-process lock alone, as before; PostgreSQL: the
    advisory lock too)."""
    db = await Database.open(database_url)
    try:
        hold = key_hold_across_processes(db.engine, pool_size=4)
        assert (hold is None) == db.is_sqlite
        guard = QuotaGuard(db.batches, UsageRepository.on(db), key_hold=hold)
        tight = _tight(Quotas(max_slides_per_day=3))

        async def submit() -> bool:
            try:
                async with guard.admitting(tight):
                    await guard.check(tight, 2)
                    await db.batches.create_batch(
                        request=_deck(2),
                        final_prompts=["p", "p"],
                        effective_workers=1,
                        owner="k1",
                        idempotency_key=None,
                    )
            except QuotaExceeded:
                return False
            return True

        assert sorted(await asyncio.gather(*(submit() for _ in range(5)))) == [False] * 4 + [True]
        if hold is not None:
            assert _checked_out(db.engine) == 0
    finally:
        await db.close()


@asynccontextmanager
async def _two_guards(url: str) -> AsyncIterator[list[tuple[QuotaGuard, Database]]]:
    """Two guards, each on its own ``Database`` (pool) of ``url``: two processes."""
    async with AsyncExitStack() as stack:
        pairs = []
        for _ in range(2):
            db = await Database.open(url)
            stack.push_async_callback(db.close)
            hold = PgKeyHold(db.engine, slots=2)
            pairs.append((QuotaGuard(db.batches, UsageRepository.on(db), key_hold=hold), db))
        yield pairs


@pytest.mark.postgres
async def test_a_cancelled_waiter_leaves_no_lock_held(postgres_url: str) -> None:
    """A hold waiting in PostgreSQL for another process's hold of the key, cancelled, leaves no
    lock and no connection behind: a third hold gets the key once the first ends."""
    tight = _tight(Quotas(max_concurrent_batches=1))
    async with _two_guards(postgres_url) as [(first, _), (second, second_db)]:
        async with first.admitting(tight):

            async def wait() -> None:
                async with second.admitting(tight):
                    raise AssertionError("entered while another process held the key")

            waiter = asyncio.create_task(wait())
            await _until(_locks_are(postgres_url, (1, 1)))
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert _checked_out(second_db.engine) == 0
            assert await _locks(postgres_url) == (1, 0)
        assert await _locks(postgres_url) == (0, 0)
        async with asyncio.timeout(30), second.admitting(tight):  # a hang guard only
            assert await _locks(postgres_url) == (1, 0)
        assert _checked_out(second_db.engine) == 0


@pytest.mark.postgres
async def test_a_hold_cancelled_inside_gives_the_key_back(postgres_url: str) -> None:
    """A request cancelled while it holds the key (between check and store) unlocks it and
    returns its connection: the other process's next hold gets the key."""
    tight = _tight(Quotas(max_concurrent_batches=1))
    async with _two_guards(postgres_url) as [(first, first_db), (second, _)]:
        inside = asyncio.Event()

        async def hold_forever() -> None:
            async with first.admitting(tight):
                inside.set()
                await asyncio.Event().wait()

        holder = asyncio.create_task(hold_forever())
        await inside.wait()
        holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
        assert _checked_out(first_db.engine) == 0
        async with asyncio.timeout(30), second.admitting(tight):
            assert await _locks(postgres_url) == (1, 0)


@pytest.mark.postgres
async def test_a_hold_whose_connection_died_ends_quietly(postgres_url: str) -> None:
    """The hold's session killed under it (its unlock then fails): the hold ends without an
    error, the dead connection leaves the pool, and the next hold of the key gets it."""
    tight = _tight(Quotas(max_concurrent_batches=1))
    async with _two_guards(postgres_url) as [(first, first_db), (second, _)]:
        async with first.admitting(tight):
            pid = (await _fetch(postgres_url, _HOLDER_PID, QUOTA_HOLD_NAMESPACE))["pid"]
            await _fetch(postgres_url, "SELECT pg_terminate_backend($1)", pid)
        assert _checked_out(first_db.engine) == 0
        async with asyncio.timeout(30), second.admitting(tight):
            assert await _locks(postgres_url) == (1, 0)
        async with asyncio.timeout(30), first.admitting(tight):
            assert await _locks(postgres_url) == (1, 0)


@pytest.mark.postgres
async def test_a_process_queues_its_own_holds_of_a_key_on_one_connection(
    postgres_url: str,
) -> None:
    """Five holds of one key in one process: one connection and one advisory lock at a time,
    the others wait in the process (not in PostgreSQL, each with a connection)."""
    tight = _tight(Quotas(max_concurrent_batches=1))
    async with _two_guards(postgres_url) as [(guard, db), _]:
        go = asyncio.Event()
        seen: list[tuple[int, int, int]] = []

        async def hold() -> None:
            async with guard.admitting(tight):
                await go.wait()
                held, waiting = await _locks(postgres_url)
                seen.append((held, waiting, _checked_out(db.engine)))

        tasks = [asyncio.create_task(hold()) for _ in range(5)]
        await _until(_locks_are(postgres_url, (1, 0)))
        for _ in range(20):  # let every other hold reach its wait
            await asyncio.sleep(0)
        assert await _locks(postgres_url) == (1, 0)
        go.set()
        await asyncio.gather(*tasks)
    assert seen == [(1, 0, 1)] * 5


@pytest.mark.postgres
async def test_a_hold_cancelled_at_any_step_leaves_nothing_behind(postgres_url: str) -> None:
    """Cancelled after 0, 1, 2... turns of the event loop (taking a pooled connection, in the
    lock's query, inside), a hold leaves no connection checked out and, once its session is
    over, no lock."""
    tight = _tight(Quotas(max_concurrent_batches=1))
    async with _two_guards(postgres_url) as [(guard, db), _]:
        for turns in range(30):
            async with guard.admitting(tight):  # a connection in the pool, as in service
                pass

            async def hold_forever() -> None:
                async with guard.admitting(tight):
                    await asyncio.Event().wait()

            holder = asyncio.create_task(hold_forever())
            for _ in range(turns):
                await asyncio.sleep(0)
            holder.cancel()
            with pytest.raises(asyncio.CancelledError):
                await holder
            assert _checked_out(db.engine) == 0, turns
            await _until(_locks_are(postgres_url, (0, 0)))
