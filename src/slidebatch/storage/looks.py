"""A batch's look in the database: its reference images and anchor mode (revision 0006).

Written in the transaction that creates the batch (so no engine starts it without them) and
read when the batch starts running, also after a restart. Deleting the batch deletes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from slidebatch.core.look import Look, ReferenceImage
from slidebatch.storage.membership import one_of
from slidebatch.storage.tables import BatchLookRow, BatchReferenceRow

_LOOKS = cast(Table, BatchLookRow.__table__)
_REFERENCES = cast(Table, BatchReferenceRow.__table__)


async def insert_look(
    connection: AsyncConnection, batch_id: str, look: Look, *, anchor_key: int | None
) -> None:
    """Store ``look`` for a new batch (nothing for a batch without one); ``anchor_key``: the
    slide drawn first in anchor mode."""
    if not look:
        return
    key = anchor_key if look.anchor else None
    await connection.execute(
        insert(_LOOKS).values(batch_id=batch_id, anchor=look.anchor, anchor_key=key)
    )
    rows: list[dict[str, Any]] = [
        {"batch_id": batch_id, "position": n, "mime_type": r.mime_type, "data": r.data}
        for n, r in enumerate(look.references)
    ]
    if rows:
        await connection.execute(insert(_REFERENCES), rows)


async def read_look(connection: AsyncConnection, batch_id: str) -> Look:
    """The batch's look; an empty one when it has none."""
    stored = (
        await connection.execute(
            select(_LOOKS.c.anchor, _LOOKS.c.anchor_key).where(_LOOKS.c.batch_id == batch_id)
        )
    ).first()
    if stored is None:
        return Look()
    query = (
        select(_REFERENCES.c.data, _REFERENCES.c.mime_type)
        .where(_REFERENCES.c.batch_id == batch_id)
        .order_by(_REFERENCES.c.position)
    )
    rows = (await connection.execute(query)).all()
    references = tuple(ReferenceImage(bytes(r.data), str(r.mime_type)) for r in rows)
    anchor = bool(stored.anchor)
    return Look(references, anchor, stored.anchor_key if anchor else None)


async def read_looks(connection: AsyncConnection, batch_ids: Sequence[str]) -> dict[str, Look]:
    """The looks of ``batch_ids`` (one query, two when any has reference images); a batch
    without one is left out."""
    if not batch_ids:
        return {}
    postgres = connection.dialect.name == "postgresql"
    stored = (
        await connection.execute(
            select(_LOOKS.c.batch_id, _LOOKS.c.anchor, _LOOKS.c.anchor_key).where(
                one_of(_LOOKS.c.batch_id, batch_ids, postgres=postgres)
            )
        )
    ).all()
    if not stored:
        return {}
    query = (
        select(_REFERENCES.c.batch_id, _REFERENCES.c.data, _REFERENCES.c.mime_type)
        .where(one_of(_REFERENCES.c.batch_id, [r.batch_id for r in stored], postgres=postgres))
        .order_by(_REFERENCES.c.batch_id, _REFERENCES.c.position)
    )
    references: dict[str, list[ReferenceImage]] = {}
    for row in (await connection.execute(query)).all():
        references.setdefault(row.batch_id, []).append(
            ReferenceImage(bytes(row.data), str(row.mime_type))
        )
    return {
        row.batch_id: Look(
            tuple(references.get(row.batch_id, ())),
            bool(row.anchor),
            row.anchor_key if row.anchor else None,
        )
        for row in stored
    }
