"""The audit log: every batch and key operation, in the database and in ``audit_YYYYMMDD.log``.

A line is ``{"time", "key_id", "client", "action", "target", "outcome", "request_id",
"detail"}``. The key id names the key; the key itself never reaches the audit trail.
Recording never fails the operation it describes: the operation has already happened, so a
broken audit store is reported as the pipeline event ``audit_store_failed`` and the file
still gets the line (and the other way round).

Reads (``WRITTEN_BEHIND``: ``batch.read``, one per status poll or stream) are written behind:
the line is in the file before the answer leaves, the row is queued for the database's next
group commit (``storage/group_commit.py``) and the answer does not wait for that commit.
Mutations (create, cancel, retry, delete, export, ...) still return only once their row is
committed. The trade-off: a crash (``kill -9``, power loss) can lose the database rows of
the reads answered in the last moments before it (those queued since the last commit, at
most ``group_commit.BEHIND_LIMIT``); the file keeps their lines, and no mutation's row is
ever lost that way. A row that cannot be stored is reported as ``audit_store_failed``, as
for any other; none is dropped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TextIO

from slidebatch.core.access import Principal
from slidebatch.core.audit import AuditAction, AuditEvent, AuditOutcome
from slidebatch.observability.context import current_request_id
from slidebatch.observability.daily_file import DailyJsonLines, local_now
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.observability.scrub import Scrubber
from slidebatch.storage.audit import AuditRepository
from slidebatch.storage.database import Database

# Actions whose database row is written behind (see the module's docstring): reads only.
WRITTEN_BEHIND = frozenset({AuditAction.BATCH_READ})


class AuditStore(Protocol):
    """Where audit events are kept for querying (``storage.audit.AuditRepository``)."""

    async def record(self, event: AuditEvent) -> None:
        """Store ``event``; returns once it is stored."""

    async def queue(self, event: AuditEvent) -> asyncio.Future[None]:
        """Queue ``event`` to be stored soon; returns the future of its storing."""


@dataclass(slots=True)
class AuditNote:
    """What an operation learns while it runs: the target (a new batch's id) and details."""

    target: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    """Records audit events to the day's file and to the store."""

    def __init__(
        self,
        log_dir: Path,
        store: AuditStore | Database | None = None,
        *,
        now: Callable[[], datetime] = local_now,
        secrets: Iterable[str] = (),
        stderr: TextIO | None = None,
        log: EventLog | None = None,
    ) -> None:
        self._file = DailyJsonLines(log_dir, "audit", now=now, secrets=secrets, stderr=stderr)
        self._log = log
        # An open Database is accepted for convenience and gets the audit repository on it.
        self._store = AuditRepository.on(store) if isinstance(store, Database) else store
        self._scrubber = Scrubber(secrets)

    def path_for(self, moment: datetime) -> Path:
        """The file holding the audit lines of ``moment``'s local date."""
        return self._file.path_for(moment)

    def close(self) -> None:
        """Close the day's file (the lifespan's shutdown); a later line opens it again."""
        self._file.close()

    async def record(
        self,
        action: AuditAction | str,
        *,
        outcome: AuditOutcome | str = AuditOutcome.OK,
        principal: Principal | None = None,
        key_id: str | None = None,
        client: str | None = None,
        target: str = "",
        request_id: str | None = None,
        detail: Mapping[str, Any] | str | None = None,
    ) -> AuditEvent:
        """Record one operation; ``request_id`` defaults to the current request's.

        ``outcome`` may be an error class name (``"NotFound"``); ``key_id`` stands in for
        ``principal``; a string ``detail`` is kept as ``{"note": detail}``.
        """
        if isinstance(detail, str):
            detail = {"note": detail}
        event = AuditEvent(
            at=self._file.now(),
            action=AuditAction(action),
            outcome=AuditOutcome.coerce(outcome),
            key_id=principal.key_id if principal is not None else key_id,
            client=client or "",
            target=self._scrubber.text(target),
            request_id=request_id or current_request_id() or "",
            detail=self._scrubber.record(dict(detail or {})),
        )
        self._file.write(event.as_line(), at=event.at)
        if self._store is not None:
            try:
                if event.action in WRITTEN_BEHIND:
                    stored = await self._store.queue(event)
                    stored.add_done_callback(partial(self._stored, event.action))
                else:
                    await self._store.record(event)
            except Exception as exc:  # the operation happened; losing its row must not undo it
                self._failed(event.action, exc)
        return event

    def _stored(self, action: AuditAction, stored: asyncio.Future[None]) -> None:
        """A row written behind was committed, or could not be (reported, never silent)."""
        if stored.cancelled():
            self._failed(action, asyncio.CancelledError("the loop stopped before its commit"))
        elif (exc := stored.exception()) is not None:
            self._failed(action, exc)

    def _failed(self, action: AuditAction, exc: BaseException) -> None:
        if self._log is not None:
            self._log.failure("audit_store_failed", exc, action=str(action))

    @asynccontextmanager
    async def operation(
        self,
        action: AuditAction,
        *,
        principal: Principal | None,
        client: str | None,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[AuditNote]:
        """Audit the enclosed block: outcome ``ok``, or the one its exception maps to.

        The exception goes on unchanged. Set ``note.target`` / ``note.detail`` inside the
        block for what is only known there (a created batch's id).
        """
        note = AuditNote(target=target, detail=dict(detail or {}))
        try:
            yield note
        except BaseException as exc:
            await self.record(
                action,
                outcome=AuditOutcome.of(exc),
                principal=principal,
                client=client,
                target=note.target,
                detail=note.detail,
            )
            raise
        await self.record(
            action, principal=principal, client=client, target=note.target, detail=note.detail
        )
