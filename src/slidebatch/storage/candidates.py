"""A slide's candidates: the images its candidates rounds produced (revision 0006).

Each round's image is a file the image store already keeps until the batch is deleted; a row
here remembers it in order, so the user can list them and pick one. Deleting the batch
deletes the rows (and the store its files). The row the slide shows is marked ``chosen``
(revision 0011): identical images share one file name, so the name cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, func, insert, select, update
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
    chosen: bool = False  # the image the slide shows


async def add_candidate(
    connection: AsyncConnection, batch_id: str, key: int, image_file: str, at: datetime
) -> int:
    """Remember ``image_file`` as the slide's next candidate, the one it shows now; returns
    its ``seq``."""
    last = (
        await connection.execute(select(func.max(_CANDIDATES.c.seq)).where(_of(batch_id, key)))
    ).scalar()
    seq = int(last or 0) + 1
    await unchoose(connection, batch_id, key)
    values = {"batch_id": batch_id, "key": key, "seq": seq, "image_file": image_file}
    values |= {"created_at": at, "chosen": True}
    await connection.execute(insert(_CANDIDATES).values(values))
    return seq


async def choose(connection: AsyncConnection, batch_id: str, key: int, seq: int) -> None:
    """Candidate ``seq`` is the one the slide shows now (and no other)."""
    await connection.execute(
        update(_CANDIDATES).where(_of(batch_id, key)).values(chosen=_CANDIDATES.c.seq == seq)
    )


async def unchoose(connection: AsyncConnection, batch_id: str, key: int) -> None:
    """The slide shows none of its candidates (it is being generated again)."""
    where = _of(batch_id, key) & _CANDIDATES.c.chosen
    await connection.execute(update(_CANDIDATES).where(where).values(chosen=False))


async def list_candidates(connection: AsyncConnection, batch_id: str, key: int) -> list[Candidate]:
    """The slide's candidates, oldest first."""
    query = select(_CANDIDATES).where(_of(batch_id, key)).order_by(_CANDIDATES.c.seq)
    rows = (await connection.execute(query)).all()
    return [
        Candidate(r.batch_id, r.key, r.seq, r.image_file, r.created_at, bool(r.chosen))
        for r in rows
    ]


def _of(batch_id: str, key: int) -> ColumnElement[bool]:
    return (_CANDIDATES.c.batch_id == batch_id) & (_CANDIDATES.c.key == key)
