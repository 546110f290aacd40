"""``column IN (values)`` that is one statement whatever the number of values.

SQLAlchemy expands ``in_([...])`` into one placeholder per value, so on PostgreSQL every length
is another statement text: asyncpg prepares it afresh (its statement cache is keyed by the
text) and SQLAlchemy compiles and caches it afresh. ``= ANY(:array)`` is one text and one
parameter. SQLite has no arrays; there the expanding ``IN`` stays (its statements are cheap
to prepare and the driver keeps no cache that the lengths would flood).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, any_, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY


def one_of(column: ColumnElement[Any], values: Collection[Any], *, postgres: bool) -> Any:
    """``column`` is one of ``values``."""
    if not postgres:
        return column.in_(list(values))
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))


def slide_pair_in(
    batch_id: ColumnElement[str],
    key: ColumnElement[int],
    pairs: Sequence[tuple[str, int]],
    *,
    postgres: bool,
) -> Any:
    """``(batch_id, key)`` is one of ``pairs`` (a slide's primary key)."""
    if not postgres:
        return tuple_(batch_id, key).in_(pairs)
    ids = bindparam(None, [p[0] for p in pairs], type_=ARRAY(String))
    keys = bindparam(None, [p[1] for p in pairs], type_=ARRAY(Integer))
    return tuple_(batch_id, key).in_(select(func.unnest(ids), func.unnest(keys)))
