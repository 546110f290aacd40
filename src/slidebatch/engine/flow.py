"""The path of one attempt's report through the engine: store, count, publish, finish.

``SlideFlow`` is the dispatcher's ``JobListener``. For each report the recorder stores the
slide's new state and returns the outcome; for a final one the engine counts it, tells the
watchers (with the progress as of that count) and ends the batch when it was the last slide.
Data flows one way: none of these parts calls back into another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from slidebatch.core.slide_change import SlideChange
from slidebatch.engine.recorder import Recorded, SlideOutcome, SlideRecorder
from slidebatch.engine.runs import Runs
from slidebatch.engine.watchers import Watchers
from slidebatch.errors import ProviderError
from slidebatch.providers.base import ImageResult
from slidebatch.scheduler.dispatcher import StartRefused
from slidebatch.scheduler.job import Job
from slidebatch.storage.errors import StorageLost


class SlideFlow:
    """What the engine does with each report from the dispatcher."""

    def __init__(self, recorder: SlideRecorder, runs: Runs, watchers: Watchers) -> None:
        self._recorder = recorder
        self._runs = runs
        self._watchers = watchers

    async def on_started(self, job: Job, attempt: int) -> None:
        async with self._losing(job, refuse=True):
            await self._publish(job, await self._recorder.started(job, attempt))

    async def on_retry(self, job: Job, error: ProviderError, delay: float, attempt: int) -> None:
        async with self._losing(job):
            await self._publish(job, await self._recorder.waiting(job, error, delay, attempt))

    async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None:
        async with self._losing(job):
            await self._final(job, await self._recorder.succeeded(job, result, attempt))

    async def on_failed(self, job: Job, error: ProviderError, attempt: int) -> None:
        async with self._losing(job):
            await self._final(job, await self._recorder.failed(job, error, attempt))

    async def on_dropped(self, job: Job, attempt: int) -> None:
        async with self._losing(job):
            await self._final(job, await self._recorder.dropped(job, attempt))

    async def on_returned(self, job: Job, attempt: int) -> None:
        async with self._losing(job):
            change = await self._recorder.returned(job, attempt)
            if change is not None:  # the batch was deleted meanwhile: nobody to tell
                await self._publish(job, change)

    @asynccontextmanager
    async def _losing(self, job: Job, *, refuse: bool = False) -> AsyncIterator[None]:
        """A report that finds the database lost fails its batch; a start (``refuse``) is
        then not sent at all: its image could be paid and never stored."""
        try:
            yield
        except StorageLost as error:
            await self._runs.storage_lost(job.batch_id, error)
            if refuse:
                raise StartRefused(str(error)) from error
            raise

    async def _final(self, job: Job, recorded: Recorded) -> None:
        if recorded.outcome is SlideOutcome.GONE:
            return
        self._runs.count(job.batch_id, ok=recorded.outcome is SlideOutcome.DONE)
        await self._runs.round_ended(job.batch_id, job.slide_key)  # before anyone hears
        await self._publish(job, recorded.change)
        await self._runs.slide_ended(job.batch_id, job.slide_key)
        await self._runs.finish_if_done(job.batch_id)

    async def _publish(self, job: Job, change: SlideChange | None) -> None:
        # Progress as of this change, taken before awaiting, and only for watchers: the
        # figures (gate stats, an estimate) cost more than the slide's own bookkeeping.
        # ``change`` (what was stored) lets a status poll update its answer without a read.
        watched = self._watchers.watched(job.batch_id)
        progress = self._runs.progress(job.batch_id) if watched else None
        await self._watchers.slide(job.batch_id, job.slide_key, progress, change)
