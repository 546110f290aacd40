"""Fixtures of the fleet tests: one migrated PostgreSQL database per test module, and an
API process's and a worker's services side by side in this process."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from fleet_services import StartFleet, services_side_by_side

from slidebatch.storage.database import Database

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _migrate(url: str) -> None:
    database = await Database.open(url)
    await database.close()


@pytest.fixture(scope="module")
def fleet_database() -> Iterator[str]:
    """URL of a PostgreSQL database migrated to head, made for this module and dropped after."""
    name = f"slidebatch_fleet_{secrets.token_hex(6)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {ADMIN_URL} unavailable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        asyncio.run(
            _admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
        )
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Database]:
    """This module's database, opened for one test."""
    database = await Database.open(postgres_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def api_and_worker_services(tmp_path: Path, postgres_url: str) -> AsyncIterator[StartFleet]:
    """``api, worker = await start(provider)`` (``fleet_services.services_side_by_side``)."""
    async with services_side_by_side(tmp_path, postgres_url) as start:
        yield start
