"""AuditRepository: the ``audit_events`` table, written once per audited operation.

Every status poll is audited, so the rows go through the database's group commit
(``storage/group_commit.py``): rows that arrive while a flush is being committed wait for the
next one, which inserts them all in the transaction that also carries the slide writes, so
forty polls a second cost no commit of their own. ``record`` returns once its row is
committed; ``queue`` (write-behind, for reads) returns once the row is queued for the next
flush, and hands back the commit's outcome to look at later.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Row, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slidebatch.core.audit import AuditAction, AuditEvent, AuditOutcome
from slidebatch.storage.errors import translated
from slidebatch.storage.group_commit import GroupCommit
from slidebatch.storage.tables import AuditEventRow

if TYPE_CHECKING:
    from slidebatch.storage.database import Database

Writing = Callable[[], AbstractAsyncContextManager[AsyncConnection]]

_AUDIT = cast(Table, AuditEventRow.__table__)
_INSERT = insert(_AUDIT)
# Column widths of the table: longer values are cut rather than failing the audit write.
_WIDTHS = {
    "key_id": 64,
    "client": 255,
    "action": 64,
    "target": 255,
    "outcome": 32,
    "request_id": 64,
}
MAX_QUERY_LIMIT = 10_000


class AuditRepository:
    """Audit events, appended and queried newest first."""

    def __init__(
        self, engine: AsyncEngine, *, writing: Writing, commits: GroupCommit | None = None
    ) -> None:
        """``commits``: the group commit the rows ride in (else one of the repository's own)."""
        self._engine = engine
        self._commits = commits if commits is not None else GroupCommit(None, writing)

    @classmethod
    def on(cls, database: Database) -> AuditRepository:
        """A repository on an open ``storage.database.Database``: its rows share the slide
        writes' transactions (and so its write lock)."""
        return cls(database.read_engine, writing=database.writing, commits=database.commits)

    async def record(self, event: AuditEvent) -> None:
        """Append ``event``; returns once it is committed."""
        with translated("write audit event"):
            await self._commits.append(_INSERT, _values(event))

    async def queue(self, event: AuditEvent) -> asyncio.Future[None]:
        """Queue ``event`` for the next commit (write-behind); returns once it is queued
        (waiting while the queue is full), with the future of its commit: it fails with the
        database's error (untranslated) when the row could not be stored."""
        return await self._commits.append_behind(_INSERT, _values(event))

    async def query(
        self,
        since: datetime | None = None,
        key_id: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Events at or after ``since``, of ``key_id`` and ``action`` when given, newest first."""
        statement = select(_AUDIT).order_by(_AUDIT.c.at.desc(), _AUDIT.c.id.desc())
        if since is not None:
            statement = statement.where(_AUDIT.c.at >= since)
        if key_id is not None:
            statement = statement.where(_AUDIT.c.key_id == key_id)
        if action is not None:
            statement = statement.where(_AUDIT.c.action == action)
        statement = statement.limit(max(1, min(limit, MAX_QUERY_LIMIT)))
        with translated("read audit events"):
            async with self._engine.connect() as connection:
                rows = (await connection.execute(statement)).all()
        return [_event(row) for row in rows]


def _values(event: AuditEvent) -> dict[str, Any]:
    """``event`` as the table's columns, strings cut to the columns' widths."""
    values: dict[str, Any] = {
        "at": event.at,
        "key_id": event.key_id,
        "client": event.client,
        "action": str(event.action),
        "target": event.target,
        "outcome": str(event.outcome),
        "request_id": event.request_id,
        "detail": json.dumps(event.detail, ensure_ascii=False) if event.detail else None,
    }
    for column, width in _WIDTHS.items():
        if isinstance(values[column], str):
            values[column] = values[column][:width]
    return values


def _event(row: Row[Any]) -> AuditEvent:
    return AuditEvent(
        at=row.at,
        action=AuditAction(row.action),
        outcome=AuditOutcome(row.outcome),
        key_id=row.key_id,
        client=row.client,
        target=row.target,
        request_id=row.request_id,
        detail=json.loads(row.detail) if row.detail else {},
    )
