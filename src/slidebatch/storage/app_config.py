"""AppConfigRepository: what the seed's settings page saved, one JSON value per name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update

from slidebatch.storage.seed_tables import AppConfigRow
from slidebatch.storage.table_access import TableAccess

_CONFIG = cast(Table, AppConfigRow.__table__)


class AppConfigRepository(TableAccess):
    """The ``app_config`` table as a plain ``{name: value}`` mapping."""

    async def load(self) -> dict[str, Any]:
        """Every saved value."""
        async with self._read("read app config") as connection:
            rows = (await connection.execute(select(_CONFIG))).all()
        return {row.name: json.loads(row.value_json) for row in rows}

    async def store(self, values: Mapping[str, Any]) -> None:
        """Save ``values`` over the stored ones (other names are kept)."""
        now = self._now()
        async with self._write("save app config") as connection:
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
        async with self._write("reset app config") as connection:
            await connection.execute(delete(_CONFIG))
