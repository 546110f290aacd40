"""Fleet events into this process's watchers: ``pg_notify`` payloads become SSE events.

Payloads (``fleet/store.py``) name a batch, the slides that changed (None: the batch's own
fields) and whether it ended. They are handled one at a time, in arrival order, so a
stream sees a slide's changes in the order they were stored. Reading the slide happens only
when someone in this process watches the batch.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from slidebatch.engine.answers import Progress
from slidebatch.engine.watchers import Watchers
from slidebatch.errors import NotFound
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.storage.repository import BatchRepository


@dataclass(frozen=True, slots=True)
class Change:
    """One notification: ``keys`` None is the batch's own change; ``end`` its end or deletion."""

    batch_id: str
    keys: tuple[int, ...] | None
    end: bool

    @classmethod
    def parse(cls, payload: str) -> Change:
        """``ValueError`` for a payload not written by ``FleetStore``."""
        data = json.loads(payload)
        keys = data.get("k")
        return cls(
            str(data["b"]), None if keys is None else tuple(int(k) for k in keys), bool(data["end"])
        )


class EventRelay:
    """Feeds watchers from the fleet's notifications."""

    def __init__(self, repo: BatchRepository, watchers: Watchers, log: EventLog) -> None:
        self._repo = repo
        self._watchers = watchers
        self._log = log
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue()

    def receive(self, payload: str) -> None:
        """A notification arrived (called by the listener, on the loop)."""
        self._queue.put_nowait(Change.parse(payload))

    async def reconnected(self) -> None:
        """Notifications may have been missed: every waiter looks at its batch again."""
        self._queue.put_nowait(None)

    async def run(self) -> None:
        """Handle changes in order until cancelled."""
        while True:
            change = await self._queue.get()
            try:
                await self._handle(change)
            except Exception as exc:  # one change that cannot be read must not stop the rest
                self._log.failure("fleet_event_failed", exc)

    async def _handle(self, change: Change | None) -> None:
        if change is None:
            self._watchers.wake_all()
            return
        batch_id = change.batch_id
        if change.end:
            try:
                batch = await self._repo.get_batch(batch_id)
            except NotFound:
                self._watchers.gone(batch_id)
                return
            if batch.state.is_final:
                self._watchers.ended(batch, await self._repo.slide_counts(batch_id))
            return
        self._watchers.changed(batch_id, change.keys)
        if change.keys is None or not self._watchers.watched(batch_id):
            return
        batch = await self._repo.get_batch(batch_id)
        counts = await self._repo.slide_counts(batch_id)
        progress = Progress.counted(batch.total_slides, counts, None)
        for key in change.keys:
            await self._watchers.slide(batch_id, key, progress)
