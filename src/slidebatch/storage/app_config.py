"""AppConfigRepository: what the seed's settings page saved, one JSON value per name."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slidebatch.storage.errors import translated
from slidebatch.storage.seed_tables import AppConfigRow

if TYPE_CHECKING:
    from slidebatch.storage.database import Database

Writing = Callable[[], AbstractAsyncContextManager[AsyncConnection]]

_CONFIG = cast(Table, AppConfigRow.__table__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AppConfigRepository:
    """The ``app_config`` table as a plain ``{name: value}`` mapping."""

    def __init__(
        self, engine: AsyncEngine, *, writing: Writing, now: Callable[[], datetime] = _utc_now
    ) -> None:
        self._engine = engine
        self._writing = writing
        self._now = now

    @classmethod
    def on(cls, database: Database) -> AppConfigRepository:
        """A repository on an open ``Database`` (shares its write lock)."""
        return cls(database.engine, writing=database.writing)

    async def load(self) -> dict[str, Any]:
        """Every saved value."""
        with translated("read app config"):
            async with self._engine.connect() as connection:
                rows = (await connection.execute(select(_CONFIG))).all()
        return {row.name: json.loads(row.value_json) for row in rows}

    async def store(self, values: Mapping[str, Any]) -> None:
        """Save ``values`` over the stored ones (other names are kept)."""
        now = self._now()
        with translated("save app config"):
            async with self._writing() as connection:
                known = set((await connection.execute(select(_CONFIG.c.name))).scalars())
                for name, value in values.items():
                    encoded = json.dumps(value, ensure_ascii=False)
                    if name in known:
                        await connection.execute(
                            update(_CONFIG)
                            .where(_CONFIG.c.name == name)
                            .values(value_json=encoded, updated_at=now)
                        )
                    else:
                        await connection.execute(
                            insert(_CONFIG).values(name=name, value_json=encoded, updated_at=now)
                        )

    async def clear(self) -> None:
        """Forget every saved value (back to the environment's settings)."""
        with translated("reset app config"):
            async with self._writing() as connection:
                await connection.execute(delete(_CONFIG))
