"""Saves of results already in hand: never cancelled with their attempt, drained on stop.

When the process stops, an attempt still waiting for its upstream answer is cancelled (the
slide stays pending or generating and runs again at the next start). Once an answer has come
back, though, the image is paid for: storing it is a *save*, which the stop must not cancel.
A save runs as its own task; the attempt awaits it shielded (cancelling the attempt leaves the
save running), and the owner of the attempts (the dispatcher, a fleet worker) drains its saves
after cancelling its attempts and before its loop returns, so the database is closed only
after them.

The drain is bounded (``DRAIN_SECONDS`` on the injected clock): a save still running then (a
database outage being waited out) is cancelled and logged as ``shutdown_saves_abandoned``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from slidebatch.observability.pipeline_log import EventLog
from slidebatch.scheduler.clock import Clock, first_of

DRAIN_SECONDS = 5.0  # how long a stop waits for saves in progress


class Saves:
    """The saves in progress of one dispatcher or worker."""

    def __init__(self, log: EventLog, clock: Clock, *, deadline: float = DRAIN_SECONDS) -> None:
        self._log = log
        self._clock = clock
        self._deadline = deadline
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    async def run(self, save: Coroutine[Any, Any, None]) -> None:
        """Run ``save`` to its end even if the caller is cancelled; its errors pass through."""
        task = asyncio.create_task(save)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)

    async def drain(self, owner: str) -> None:
        """Wait for every save in progress, at most the deadline; cancel and log the rest.

        ``owner`` names who stops (``dispatcher``, a worker's name) in the logged event.
        """
        tasks = set(self._tasks)
        if not tasks:
            return
        await first_of(asyncio.wait(tasks), self._clock.sleep(self._deadline))
        left = [task for task in tasks if not task.done()]
        if not left:
            return
        self._log.event(
            "shutdown_saves_abandoned",
            level="error",
            details={"owner": owner, "saves": len(left), "deadline_s": self._deadline},
        )
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
