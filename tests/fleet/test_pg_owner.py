"""On PostgreSQL a single-process engine owns the database alone; fleet processes share it.

The owner lock (``storage/pg_owner.py``) is taken on a real database: a plain engine is
refused beside a fleet process and the other way round, naming the holder; fleet processes
coexist; the lock is free again once its holder's session ends, however it ends.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tests.fleet.conftest import ADMIN_URL

from slidebatch.config import load_settings
from slidebatch.services import FleetRole, build_services
from slidebatch.storage.pg_owner import (
    DatabaseInUse,
    check_database,
    hold_database,
    owner_name,
    watch_owner,
)

pytestmark = pytest.mark.postgres


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _hold(url: str, *, fleet: bool, command: str) -> Any:
    return await hold_database(_dsn(url), fleet=fleet, command=command)


async def test_a_plain_engine_is_refused_while_a_fleet_process_holds_the_database(
    fleet_database: str,
) -> None:
    worker = await _hold(fleet_database, fleet=True, command="worker")
    try:
        with pytest.raises(DatabaseInUse) as refused:
            await _hold(fleet_database, fleet=False, command="generate deck.json")
        message = str(refused.value)
        assert f"slidebatch fleet pid {os.getpid()} (worker)" in message
        assert "fleet runs on this PostgreSQL database" in message
        assert "serve --no-worker" in message
        assert "another database" in message
        assert [h.fleet for h in refused.value.holders] == [True]
    finally:
        await worker.close()


async def test_a_fleet_process_is_refused_while_a_plain_engine_holds_the_database(
    fleet_database: str,
) -> None:
    engine = await _hold(fleet_database, fleet=False, command="serve")
    try:
        for fleet in (True, False):  # neither a fleet process nor a second engine
            with pytest.raises(DatabaseInUse) as refused:
                await _hold(fleet_database, fleet=fleet, command="worker")
            message = str(refused.value)
            assert f"slidebatch engine pid {os.getpid()} (serve)" in message
            assert "single-process slidebatch engine owns" in message
            assert [h.fleet for h in refused.value.holders] == [False]
    finally:
        await engine.close()


async def test_fleet_processes_coexist_and_all_of_them_keep_an_engine_out(
    fleet_database: str,
) -> None:
    first = await _hold(fleet_database, fleet=True, command="serve --no-worker")
    second = await _hold(fleet_database, fleet=True, command="worker")
    try:
        await first.close()  # one fleet process left: still the fleet's database
        with pytest.raises(DatabaseInUse, match=r"pid \d+ \(worker\)"):
            await _hold(fleet_database, fleet=False, command="generate")
    finally:
        await first.close()
        await second.close()


async def test_the_lock_frees_when_its_holder_closes_or_its_session_is_killed(
    fleet_database: str,
) -> None:
    worker = await _hold(fleet_database, fleet=True, command="worker")
    await worker.close()
    engine = await _hold(fleet_database, fleet=False, command="generate")
    # A killed process: its session ends without a word; the lock goes with it.
    backend = engine.get_server_pid()
    admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        # with a timeout it returns once the backend has exited (its locks released)
        assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", backend)
    finally:
        await admin.close()
        engine.terminate()
    again = await _hold(fleet_database, fleet=True, command="worker")
    await again.close()


async def test_build_services_takes_the_lock_for_its_life(
    fleet_database: str, tmp_path: Path
) -> None:
    """A fleet process's services hold it shared; a plain engine's are refused meanwhile."""
    settings = load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", database_url=fleet_database
    )
    async with build_services(settings, fleet=FleetRole(api=True, worker=False)):
        with pytest.raises(DatabaseInUse, match="slidebatch fleet pid"):
            async with build_services(settings, adopt_stored=False):
                pass
        # the servers' start-up check says the same before uvicorn runs
        with pytest.raises(DatabaseInUse):
            await check_database(fleet_database, fleet=False, command="serve")
        await check_database(fleet_database, fleet=True, command="serve --fleet")
    async with build_services(settings, adopt_stored=False):  # free again once it closed
        with pytest.raises(DatabaseInUse, match="slidebatch engine pid"):
            await check_database(fleet_database, fleet=True, command="worker")


async def test_sqlite_is_not_checked_here_and_names_fit_postgresql() -> None:
    await check_database("sqlite+aiosqlite:////tmp/x/never-opened.db", fleet=False, command="x")
    name = owner_name(fleet=False, command="generate " + "deck.json " * 20)
    assert len(name) <= 63
    assert name.startswith("slidebatch engine pid ")
    assert name.endswith("...)")


async def test_an_owner_connection_lost_before_it_is_watched_is_still_reported(
    fleet_database: str,
) -> None:
    """watch_owner on a connection whose session already ended (terminated between the
    lock and the watch): the loss is reported on the next loop turn, since asyncpg's
    termination listener only hears of closes after it was added."""
    owner = await _hold(fleet_database, fleet=True, command="worker")
    owner.terminate()
    assert owner.is_closed()
    lost = asyncio.Event()
    release = watch_owner(owner, lost.set)
    assert not lost.is_set()  # told from the loop, like the listener
    await asyncio.wait_for(lost.wait(), timeout=5)
    await release()
