"""Telling whoever watches or waits: slide events, the batch's end, and waiting for either.

Streams (SSE, the CLI) get a ``SlideEvent`` per change and one ``BatchStatus`` at the end;
callers of ``until_final`` (the synchronous generate answer) wake when the batch ends; and
every change moves the batch's version (``Versions``), which status answers are cached by.

A batch's events are published in the order the changes were reported (``_Turns``): each
slide event is read from storage concurrently, but one whose read comes back early waits for
the earlier ones, so a stream never sees progress go backwards ([1, 3, 2] when the second
slide's read was slower than the third's) and the batch's end is always the last event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial

from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.slide_change import SlideChange
from slidebatch.core.states import SlideState
from slidebatch.engine.answers import (
    BatchStatus,
    Progress,
    SlideAnswer,
    SlideEvent,
    waiting_slides,
)
from slidebatch.engine.events import EventBus
from slidebatch.engine.versions import Versions
from slidebatch.errors import NotFound
from slidebatch.storage.repository import BatchRepository


class _Turns:
    """One batch's events, acted on in the order their turns were taken, none skipped."""

    def __init__(self) -> None:
        self._taken = 0
        self._done = 0
        self._ready: dict[int, Callable[[], object] | None] = {}

    def take(self) -> int:
        """The next turn (taken synchronously, when the change is reported)."""
        self._taken += 1
        return self._taken - 1

    def release(self, turn: int, act: Callable[[], object] | None) -> None:
        """``turn`` is ready (``act`` None: nothing to publish); run every ready act in order."""
        self._ready[turn] = act
        while self._done in self._ready:
            ready = self._ready.pop(self._done)
            self._done += 1
            if ready is not None:
                ready()

    @property
    def idle(self) -> bool:
        """Every turn taken has been acted on."""
        return self._done == self._taken


class Watchers:
    """Publishes batch events and wakes the callers waiting on a batch's end."""

    def __init__(self, repo: BatchRepository, events: EventBus) -> None:
        self._repo = repo
        self.events = events
        self.versions = Versions()
        self._finished: dict[str, asyncio.Event] = {}  # set when a waited-on batch ends
        self._turns: dict[str, _Turns] = {}  # batches with events being read
        # Batches that ended without their final state stored (their database was lost).
        self._unstored: dict[str, BatchRecord] = {}

    def watched(self, batch_id: str) -> bool:
        """Whether anyone listens to ``batch_id``'s events now."""
        return self.events.subscriber_count(batch_id) > 0

    async def slide(
        self,
        batch_id: str,
        key: int,
        progress: Progress | None,
        change: SlideChange | None = None,
    ) -> None:
        """Tell watchers about the slide as it is stored now (``progress`` as of the change;
        ``change``: what was stored, when known, for status answers built without a read).

        The event is published after every event of the batch reported before it (at once
        when their reads are done, else by the last of them to finish); returns once read.
        """
        self.versions.slide_changed(batch_id, key, change)
        if not self.events.subscriber_count(batch_id):
            return
        turns = self._turns.setdefault(batch_id, _Turns())
        turn = turns.take()  # before any await: the order the changes were reported in
        publish: Callable[[], object] | None = None
        try:
            # Waits out an outage: the event must not be lost, nor stop the batch's flow.
            record = await self._repo.until_answered(
                "read slide", lambda: self._repo.get_slide(batch_id, key), batch_id=batch_id
            )
            answer = waiting_slides([SlideAnswer.of(record)], progress)[0]
            event = SlideEvent(batch_id, answer, progress)
            publish = partial(self.events.publish, batch_id, event)
        except NotFound:
            pass
        finally:
            self._release(batch_id, turns, turn, publish)

    def _release(
        self, batch_id: str, turns: _Turns, turn: int, act: Callable[[], object] | None
    ) -> None:
        turns.release(turn, act)
        if turns.idle and self._turns.get(batch_id) is turns:
            del self._turns[batch_id]

    def changed(self, batch_id: str, keys: Iterable[int] | None = None) -> None:
        """The batch's own fields changed, and the slides ``keys`` (None: maybe any slide)."""
        self.versions.batch_changed(batch_id, keys)

    def started(self, batch: BatchRecord, slides: Sequence[SlideRecord]) -> None:
        """The batch started running here, stored as ``batch`` with every one of ``slides``
        (read just now: status answers start from them without a read)."""
        self.versions.started(batch, slides, read_at=self._repo.writes_begun)

    def ended(
        self, batch: BatchRecord, counts: dict[SlideState, int], *, error: str | None = None
    ) -> None:
        """The batch reached a final state: one last event, streams end, waiters wake.

        ``error``: it failed for want of its database, so ``batch`` is not stored; waiters
        are answered with it.
        """
        # Each slide reported its own change; ``batch`` is the stored row unless ``error``.
        if error is None:
            self.versions.ended(batch)
        else:
            self.versions.batch_changed(batch.id, ())
            self._unstored[batch.id] = batch
        status = replace(BatchStatus.of(batch, counts), error=error)
        turns = self._turns.get(batch.id)
        if turns is None:
            self._end(batch.id, status)
        else:  # after the slide events still being read
            self._release(batch.id, turns, turns.take(), partial(self._end, batch.id, status))

    def _end(self, batch_id: str, status: BatchStatus) -> None:
        self.events.publish(batch_id, status)
        self._close(batch_id)

    def wake_all(self) -> None:
        """Every waiter looks at its batch again (events may have been missed)."""
        for event in self._finished.values():
            event.set()
        self._finished.clear()

    def gone(self, batch_id: str) -> None:
        """The batch was deleted: its streams end, its waiters wake (and find it gone)."""
        self.versions.forget(batch_id)
        self._unstored.pop(batch_id, None)
        self._close(batch_id)

    def _close(self, batch_id: str) -> None:
        self.events.close(batch_id)
        event = self._finished.pop(batch_id, None)
        if event is not None:
            event.set()

    async def until_final(self, batch_id: str) -> BatchRecord:
        """Wait until ``batch_id`` reaches a final state; ``NotFound`` if it is deleted."""
        while True:
            # Register before looking, so an ending in between is not missed.
            event = self._finished.setdefault(batch_id, asyncio.Event())
            batch = self._unstored.get(batch_id) or await self._repo.get_batch(batch_id)
            if batch.state.is_final:
                if self._finished.get(batch_id) is event and not event.is_set():
                    del self._finished[batch_id]
                return batch
            await event.wait()

    async def until_slide_final(self, batch_id: str, slide_id: str) -> SlideRecord:
        """Wait until one slide reaches a final state (or its batch ends); returns it then."""
        key = await self._repo.find_slide_key(batch_id, slide_id)
        while True:
            async with self.events.subscribe(batch_id) as stream:
                record = await self._repo.get_slide(batch_id, key)
                batch = await self._repo.get_batch(batch_id)
                if record.state.is_final or batch.state.is_final:
                    return record
                async for event in stream:
                    data = event.data
                    if not isinstance(data, SlideEvent) or (
                        data.slide.slide_id == slide_id and data.slide.state.is_final
                    ):
                        break
