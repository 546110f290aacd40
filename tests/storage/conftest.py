"""Storage fixtures: an open database on every backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from storage_helpers import SteppingClock

from slidebatch.storage.database import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An open, migrated database on SQLite and on PostgreSQL."""
    database = await Database.open(database_url, now=SteppingClock())
    try:
        yield database
    finally:
        await database.close()
