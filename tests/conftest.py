"""Fixtures shared across test areas.

``database_url``: a fresh, empty database per test, once on SQLite (in tmp_path) and once on
PostgreSQL (a new database on the local server, dropped afterwards). Without PostgreSQL the
postgres half is skipped locally and fails when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
_T = TypeVar("_T")


def _run_in_thread(make: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine on its own loop in a worker thread, away from the test's loop."""

    async def main() -> _T:
        return await make()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _create_postgres_database() -> str:
    name = f"slidebatch_t_{secrets.token_hex(6)}"
    try:
        _run_in_thread(lambda: _admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} unavailable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return name


def _drop_postgres_database(name: str) -> None:
    _run_in_thread(
        lambda: _admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
    )
    _run_in_thread(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh empty database (the SQLite file's folder does not exist yet)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'slidebatch.db'}"
        return
    name = _create_postgres_database()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        _drop_postgres_database(name)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh empty PostgreSQL database, dropped afterwards (skipped without one)."""
    name = _create_postgres_database()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        _drop_postgres_database(name)


@pytest.fixture
def cjk_font() -> object:
    """The renderer's fonts, when they can draw Chinese; else the test is skipped, saying why.

    A CJK font is optional (the renderer warns and draws boxes without one), so a machine
    without it skips the claims that need one instead of failing them.
    """
    from slidebatch.render.fonts import find_fonts

    fonts = find_fonts()
    if not fonts.has_cjk:
        pytest.skip(
            "no CJK font found in the usual font folders (optional; install fonts-noto-cjk "
            "to run this test)"
        )
    return fonts
