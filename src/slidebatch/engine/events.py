"""In-process publish/subscribe of batch events, for Server-Sent Events and the CLI.

Subscribers get a bounded queue; one that falls behind is dropped (its stream ends and the
client reconnects to a fresh snapshot), so a slow browser never holds memory or the engine.
Event ids grow by one per published event across all batches of this process, so a stream's
ids only increase, and an id seen before subscribing (``last_id``) is older than any event
the subscription delivers.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from slidebatch.engine.answers import BatchStatus, SlideEvent

_CLOSED = object()
_Item = object  # a BatchEvent, or _CLOSED to end the stream


@dataclass(frozen=True, slots=True)
class BatchEvent:
    """One change: a slide's (``SlideEvent``) or, at the end, the batch's (``BatchStatus``)."""

    id: int
    batch_id: str
    data: SlideEvent | BatchStatus

    @property
    def kind(self) -> str:
        """``slide`` or ``batch``: the SSE event name."""
        return "slide" if isinstance(self.data, SlideEvent) else "batch"


class EventBus:
    """Fan-out of batch events to whoever is listening right now."""

    def __init__(self, *, queue_size: int = 1024) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[_Item]]] = {}
        self._queue_size = queue_size
        self._ids = itertools.count(1)
        self.last_id = 0  # the id of the newest event published (0: none yet)
        self._taps: dict[str, list[Callable[[SlideEvent | BatchStatus], None]]] = {}

    def publish(self, batch_id: str, data: SlideEvent | BatchStatus) -> BatchEvent:
        event = BatchEvent(next(self._ids), batch_id, data)
        self.last_id = event.id
        for tap in list(self._taps.get(batch_id, ())):
            tap(data)
        for queue in list(self._subscribers.get(batch_id, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(batch_id, queue)
        return event

    @contextmanager
    def tap(self, batch_id: str, tap: Callable[[SlideEvent | BatchStatus], None]) -> Iterator[None]:
        """Call ``tap`` with each event of ``batch_id`` as it is published (synchronously,
        before any subscriber reads it), while inside: the cost guard's gate."""
        self._taps.setdefault(batch_id, []).append(tap)
        try:
            yield
        finally:
            taps = self._taps.get(batch_id, [])
            if tap in taps:
                taps.remove(tap)
            if not taps:
                self._taps.pop(batch_id, None)

    def close(self, batch_id: str) -> None:
        """End every stream of ``batch_id`` (the batch finished or was deleted)."""
        for queue in list(self._subscribers.get(batch_id, ())):
            self._drop(batch_id, queue)

    def subscriber_count(self, batch_id: str) -> int:
        return len(self._subscribers.get(batch_id, ()))

    @asynccontextmanager
    async def subscribe(self, batch_id: str) -> AsyncIterator[AsyncIterator[BatchEvent]]:
        """Listen to ``batch_id`` until the batch ends, the bus drops us, or we leave."""
        queue: asyncio.Queue[_Item] = asyncio.Queue(self._queue_size)
        self._subscribers.setdefault(batch_id, set()).add(queue)
        try:
            yield self._iterate(queue)
        finally:
            subscribers = self._subscribers.get(batch_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[batch_id]

    @staticmethod
    async def _iterate(queue: asyncio.Queue[_Item]) -> AsyncIterator[BatchEvent]:
        while True:
            item = await queue.get()
            if not isinstance(item, BatchEvent):
                return
            yield item

    def _drop(self, batch_id: str, queue: asyncio.Queue[_Item]) -> None:
        subscribers = self._subscribers.get(batch_id)
        if subscribers is not None:
            subscribers.discard(queue)
        # Make room for the sentinel so the reader wakes up and ends its stream.
        while True:
            try:
                queue.put_nowait(_CLOSED)
                return
            except asyncio.QueueFull:
                queue.get_nowait()
