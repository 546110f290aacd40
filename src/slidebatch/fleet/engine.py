"""The batch engine of a fleet process: the same operations, decided by the database.

``FleetEngine`` keeps ``BatchEngine``'s commands and answers (submit, wait, status, cancel,
retry, regenerate with candidates, delete, cleanup) but runs no dispatcher: workers claim
the slides (``fleet/worker.py``). Admission, a cancel and the end of a batch are
``FleetStore`` transactions that any process may run; changes reach every process's
watchers (SSE streams, synchronous waiters) through ``pg_notify`` (``fleet/relay.py``),
including the process's own changes, so a client sees the same events whichever process
it talks to. Its own status answers see its own changes at once, not when the NOTIFY
comes back (``Versions``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.estimate import estimate_seconds
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import Progress
from slidebatch.engine.batch_engine import BatchEngine
from slidebatch.engine.progress import waiting_text
from slidebatch.engine.reader import BatchReader
from slidebatch.engine.runs import Runs, completion_summary
from slidebatch.fleet.notify import Listener
from slidebatch.fleet.relay import EventRelay
from slidebatch.fleet.store import EVENTS_CHANNEL, FleetStore


class FleetRuns(Runs):
    """``Runs`` whose admission and reopening go through the database; nothing runs here."""

    def __init__(self, *, store: FleetStore, **parts: Any) -> None:
        super().__init__(**parts)
        self._store = store

    async def admit(self) -> None:
        """Start queued batches while the fleet runs fewer than the maximum."""
        for batch in await self._store.admit(self._config.max_concurrent, at=self._wall()):
            self._log.event(
                "batch_generate_start",
                batch_id=batch.id,
                details={"total_slides": batch.total_slides, "fleet": True},
            )

    def progress(self, batch_id: str) -> Progress | None:
        """Nothing runs here; what every batch of the fleet waits for is the shared gate's
        park (read from the database by the fleet gate): a spent quota, no credits."""
        quota = self.quota_wait()
        return None if quota is None else Progress(0, 0, 0, None, waiting_for_quota=quota)

    def outlook(
        self, batch: BatchRecord, slides: Sequence[SlideRecord]
    ) -> tuple[float | None, Progress | None]:
        """A running batch's remaining time and what it waits for, from its stored slides
        and the shared gate as this process last read it (``PgGate.stats``: its snapshot,
        at most a third of a lease old): with slides not yet started, the gate's next start
        when it is a second or more away, as a single process says it (``waiting_text``),
        and on each pending slide."""
        if batch.state is not BatchState.RUNNING:
            return super().outlook(batch, slides)
        figures = self.figures()
        unstarted = sum(1 for s in slides if s.state is SlideState.PENDING)
        unfinished = sum(1 for s in slides if not s.state.is_final)
        waiting = waiting_text(figures) if unstarted else None
        ahead = figures.next_start_in if unstarted else 0.0
        eta = round(ahead + estimate_seconds(unfinished, figures, batch.effective_workers), 1)
        progress = Progress(
            batch.total_slides,
            0,
            0,
            eta,
            waiting=waiting,
            next_start_in=round(figures.next_start_in, 1) if waiting else None,
            waiting_for=(figures.hold or "rate_limit") if waiting else None,
            waiting_for_quota=self.quota_wait(),
        )
        return eta, progress

    async def start_locked(self, batch: BatchRecord) -> None:
        """Workers start batches; an API process only admits them."""

    async def reopen_locked(self, batch: BatchRecord, reset: list[SlideRecord]) -> None:
        """Slides went back to pending: a final batch queues again; workers are woken."""
        if not reset:
            return
        if batch.cancel_requested:
            await self._repo.clear_cancel(batch.id)
        current = await self._repo.get_batch(batch.id)
        if current.state.is_final:
            await self._repo.set_batch_state(batch.id, BatchState.QUEUED, at=self._wall())
        keys = [s.key for s in reset]
        self._watchers.changed(batch.id, keys)  # this process's answers: now, not at the NOTIFY
        await self._store.announce(batch.id, keys, work=True)


class FleetEngine(BatchEngine):
    """A ``BatchEngine`` for an API process of a fleet (with or without a worker inside)."""

    def __init__(self, *, store: FleetStore, dsn: str, **parts: Any) -> None:
        super().__init__(**parts)
        self.store = store
        self.runs = FleetRuns(
            store=store,
            repo=self.repo,
            dispatcher=self.dispatcher,
            watchers=self.watchers,
            log=self.log,
            config=self.runs._config,
            clock=self._clock,
            wall=self._wall,
            figures=self.runs.figures,
            images=self.images,
        )
        self.read = BatchReader(
            self.repo, self.runs, self.watchers.versions, max_concurrent=self.limits.max_concurrent
        )
        self.relay = EventRelay(self.repo, self.watchers, self.log)
        self._events = Listener(
            dsn, {EVENTS_CHANNEL: self.relay.receive}, self.log, on_connect=self.relay.reconnected
        )

    async def start(self) -> None:
        """Listen to the fleet's events and admit; nothing is resumed (workers own slides)."""
        self._tasks.append(asyncio.create_task(self._events.run(), name="fleet-events"))
        self._tasks.append(asyncio.create_task(self.relay.run(), name="fleet-relay"))
        await asyncio.wait_for(self._events.connected.wait(), timeout=30)
        await self.runs.admit()

    async def resume(self, batch_id: str) -> BatchRecord:
        """A stored batch runs when admitted; workers pick up its pending slides."""
        await self.runs.admit()
        return await self.repo.get_batch(batch_id)

    async def cancel(
        self, batch_id: str, *, owner: str | None = None, reason: str | None = None
    ) -> None:
        """Pending slides never start; slides being generated finish, then the batch ends."""
        async with self.runs.lock:
            batch = await self.repo.get_batch(batch_id, owner=owner)
            if batch.state.is_final:
                return
            cancelled = await self.store.cancel(batch_id, reason=reason, at=self._wall())
            if cancelled is None:  # another process ended or deleted it meanwhile
                return
            # This process's answers see it now; its streams hear it by the NOTIFY, in order.
            self.watchers.changed(batch_id, cancelled.dropped)
            details = {"dropped": len(cancelled.dropped)}
            self.log.event("batch_cancel_requested", batch_id=batch_id, details=details)
            finished = cancelled.finished
            if finished is not None:
                summary = completion_summary(finished.batch, finished.slides)
                self.log.event("batch_generate_complete", batch_id=batch_id, summary=summary)
        await self.runs.admit()

    async def _slide_changed(self, record: SlideRecord) -> None:
        """As ``BatchEngine._slide_changed``, and every other process hears of it."""
        await super()._slide_changed(record)
        await self.store.announce(record.batch_id, [record.key], work=False)

    async def removed(self, batch_id: str) -> None:
        """As ``BatchEngine.removed``, in every process: a batch deleted or cleaned up here
        must not go on being answered from another process's cached status."""
        await super().removed(batch_id)
        await self.store.announce_gone(batch_id)
