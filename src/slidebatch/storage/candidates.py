"""A slide's candidates: the images its candidates rounds produced (revision 0006).

Each round's image is a file the image store already keeps until the batch is deleted; a row
here remembers it in order, so the user can list them and pick one. Deleting the batch
deletes the rows (and the store its files).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from slidebatch.storage.tables import SlideCandidateRow

_CANDIDATES = cast(Table, SlideCandidateRow.__table__)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate image of a slide (``seq`` counts from 1)."""

    batch_id: str
    key: int
    seq: int
    image_file: str
    created_at: datetime


async def add_candidate(
    connection: AsyncConnection, batch_id: str, key: int, image_file: str, at: datetime
) -> int:
    """Remember ``image_file`` as the slide's next candidate; returns its ``seq``."""
    where = (_CANDIDATES.c.batch_id == batch_id) & (_CANDIDATES.c.key == key)
    last = (await connection.execute(select(func.max(_CANDIDATES.c.seq)).where(where))).scalar()
    seq = int(last or 0) + 1
    values = {"batch_id": batch_id, "key": key, "seq": seq, "image_file": image_file}
    await connection.execute(insert(_CANDIDATES).values(values | {"created_at": at}))
    return seq


async def list_candidates(connection: AsyncConnection, batch_id: str, key: int) -> list[Candidate]:
    """The slide's candidates, oldest first."""
    query = (
        select(_CANDIDATES)
        .where(_CANDIDATES.c.batch_id == batch_id, _CANDIDATES.c.key == key)
        .order_by(_CANDIDATES.c.seq)
    )
    rows = (await connection.execute(query)).all()
    return [Candidate(r.batch_id, r.key, r.seq, r.image_file, r.created_at) for r in rows]
