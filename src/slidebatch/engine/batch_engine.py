"""The batch engine: every batch operation, with each slide's state persisted as it changes.

The database is the record of truth: a slide is ``pending`` until an attempt starts,
``generating`` while one runs, and ``done``/``error``/``cancelled`` at the end. On start the
engine turns interrupted ``generating`` slides back to ``pending`` and (a server; see
``adopt_stored``) resumes every unfinished batch, so a crash or ``kill -9`` loses nothing and
no finished slide is paid for twice. A CLI run resumes only the batch it asks for (``resume``).

What stays in memory is only what running batches need (a counter and their queued jobs in the
dispatcher); it is dropped the moment a batch ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slidebatch.core.aspect import ImageSize
from slidebatch.core.batch import BatchOrigin, BatchRecord, SlideRecord
from slidebatch.core.estimate import UpstreamFigures, estimate_seconds
from slidebatch.core.prompt import build_prompt
from slidebatch.core.slide import BatchRequest, effective_workers
from slidebatch.core.states import BatchState, SlideState, final_batch_state
from slidebatch.engine.answers import (
    ActiveCount,
    BatchPage,
    BatchResult,
    BatchStatus,
    Progress,
    SlideAnswer,
    SlideEvent,
    state_counts,
)
from slidebatch.engine.events import EventBus
from slidebatch.engine.progress import RunningBatch
from slidebatch.engine.recorder import Announce, PlaceholderRenderer, SlideRecorder
from slidebatch.errors import Conflict
from slidebatch.observability.pipeline_log import PipelineLog
from slidebatch.providers.base import ImageProvider, ImageRequest
from slidebatch.scheduler.clock import Clock
from slidebatch.scheduler.dispatcher import Dispatcher, JobListener
from slidebatch.scheduler.job import Job
from slidebatch.storage.images import ImageStore
from slidebatch.storage.repository import BatchRepository

logger = logging.getLogger("slidebatch.engine")


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """The settings the engine acts on."""

    max_concurrent: int
    max_workers: int
    default_workers: int | None
    image_size: ImageSize = ImageSize.K1
    cleanup_after: timedelta = timedelta(hours=24)


class BatchEngine:
    """Runs batches: admission, dispatch through the scheduler, persistence, events, logs."""

    def __init__(
        self,
        *,
        repo: BatchRepository,
        images: ImageStore,
        provider: ImageProvider,
        dispatcher_factory: Callable[[JobListener], Dispatcher],
        limits: EngineLimits,
        log: PipelineLog,
        events: EventBus,
        clock: Clock,
        figures: Callable[[], UpstreamFigures],
        placeholder: PlaceholderRenderer | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        adopt_stored: bool = True,
    ) -> None:
        self.repo = repo
        self.images = images
        self.provider = provider
        self.limits = limits
        self.log = log
        self.events = events
        self._clock = clock
        self._figures = figures
        self._placeholder = placeholder
        self._wall = wall
        self._running: dict[str, RunningBatch] = {}
        # A server adopts every unfinished batch in the database; a CLI run only the ones it
        # submits or resumes (``_own``), so a re-run never pays for batches nobody reads.
        self._adopt_stored = adopt_stored
        self._own: set[str] = set()
        # Admission, finishing, cancel, retry, regenerate and delete change which batches run
        # and which slides are pending; they take this lock so they never interleave.
        self._admit_lock = asyncio.Lock()
        self._finished: dict[str, asyncio.Event] = {}  # set when a waited-on batch ends
        self.recorder = SlideRecorder(
            repo=repo,
            images=images,
            provider_name=provider.name,
            log=log,
            events=events,
            wall=wall,
            on_final=self._slide_final,
            progress=self._progress,
            placeholder=placeholder,
        )
        self.dispatcher = dispatcher_factory(self.recorder)
        self._tasks: list[asyncio.Task[None]] = []

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Resume what a previous process left unfinished, then start dispatching."""
        self._tasks.append(asyncio.create_task(self.dispatcher.run(), name="dispatcher"))
        for batch in await self.repo.recover_interrupted():
            if batch.state is BatchState.RUNNING and self._adopt_stored:
                self.log.event("batch_resumed", batch_id=batch.id)
                await self._start_batch(batch)
        await self._admit()

    async def stop(self) -> None:
        """Stop dispatching. Unfinished slides stay ``pending`` and resume at the next start."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # a crashed loop must not hide the shutdown
                logger.exception("engine task failed")
        self._tasks.clear()

    def start_cleanup(self, every: float) -> None:
        """Remove finished batches older than the cleanup age, every ``every`` seconds."""
        self._tasks.append(asyncio.create_task(self._cleanup_loop(every), name="cleanup"))

    # ----------------------------------------------------------------- operations

    async def submit(
        self,
        request: BatchRequest,
        *,
        owner: str | None = None,
        idempotency_key: str | None = None,
        origin: BatchOrigin | None = None,
    ) -> tuple[BatchRecord, bool]:
        """Store a new batch (queued) and admit it when a place is free.

        Returns ``(batch, created)``; a repeated ``idempotency_key`` returns the first batch.
        """
        workers = effective_workers(
            request.max_workers, self.limits.default_workers, self.limits.max_workers
        )
        prompts = [
            build_prompt(s, request.style_prompt, request.aspect_ratio) for s in request.slides
        ]
        batch, created = await self.repo.create_batch(
            request=request,
            final_prompts=prompts,
            effective_workers=workers,
            owner=owner,
            idempotency_key=idempotency_key,
            origin=origin,
        )
        self._own.add(batch.id)
        if created:
            self.log.event(
                "batch_created",
                batch_id=batch.id,
                details={
                    "total_slides": batch.total_slides,
                    "requested_workers": request.max_workers,
                    "max_workers": workers,
                    "aspect_ratio": str(request.aspect_ratio),
                    "provider": self.provider.name,
                },
            )
            await self._admit()
        return batch, created

    async def resume(self, batch_id: str) -> BatchRecord:
        """Run a stored unfinished batch in this engine (a CLI re-run continuing its batch).

        Only slides not yet done are dispatched. A final batch is returned as it is.
        """
        self._own.add(batch_id)
        async with self._admit_lock:
            batch = await self.repo.get_batch(batch_id)
            if batch.state is BatchState.RUNNING and batch_id not in self._running:
                self.log.event("batch_resumed", batch_id=batch_id)
                await self._start_batch(batch)
        await self._admit()
        return await self.repo.get_batch(batch_id)

    async def wait(self, batch_id: str) -> BatchRecord:
        """Wait until ``batch_id`` reaches a final state; returns its record then.

        ``NotFound`` if the batch is deleted meanwhile.
        """
        while True:
            # Register before looking, so an ending in between is not missed.
            event = self._finished.setdefault(batch_id, asyncio.Event())
            batch = await self.repo.get_batch(batch_id)
            if batch.state.is_final:
                if self._finished.get(batch_id) is event and not event.is_set():
                    del self._finished[batch_id]
                return batch
            await event.wait()

    async def wait_slide(self, batch_id: str, slide_id: str) -> SlideRecord:
        """Wait until one slide reaches a final state (or its batch ends); returns it then."""
        key = await self.repo.find_slide_key(batch_id, slide_id)
        while True:
            async with self.events.subscribe(batch_id) as stream:
                record = await self.repo.get_slide(batch_id, key)
                batch = await self.repo.get_batch(batch_id)
                if record.state.is_final or batch.state.is_final:
                    return record
                async for event in stream:
                    data = event.data
                    if not isinstance(data, SlideEvent) or (
                        data.slide.slide_id == slide_id and data.slide.state.is_final
                    ):
                        break

    async def status(self, batch_id: str, *, owner: str | None = None) -> BatchStatus:
        """The seed's status answer, with queue position and ETA."""
        batch = await self.repo.get_batch(batch_id, owner=owner)
        slides = await self.repo.get_slides(batch_id)
        return BatchStatus.of(
            batch,
            state_counts(slides),
            eta=self._eta(batch, slides),
            queue_position=await self._queue_position(batch),
            slides=slides,
        )

    async def result(self, batch_id: str) -> BatchResult:
        """The seed's synchronous generate answer for a finished batch."""
        batch = await self.repo.get_batch(batch_id)
        return BatchResult.of(batch, await self.repo.get_slides(batch_id))

    async def owned(self, batch_id: str, *, owner: str | None = None) -> BatchRecord:
        """The batch, or ``NotFound`` when it is missing or (``owner`` given) not theirs."""
        return await self.repo.get_batch(batch_id, owner=owner)

    async def records(
        self, batch_id: str, *, owner: str | None = None
    ) -> tuple[BatchRecord, list[SlideRecord]]:
        """The batch and its slides as stored (for exports)."""
        batch = await self.repo.get_batch(batch_id, owner=owner)
        return batch, await self.repo.get_slides(batch_id)

    async def slide(self, batch_id: str, slide_id: str) -> SlideAnswer:
        """One slide by the client's id."""
        key = await self.repo.find_slide_key(batch_id, slide_id)
        return SlideAnswer.of(await self.repo.get_slide(batch_id, key))

    async def is_repeat(self, owner: str | None, idempotency_key: str | None) -> bool:
        """Whether ``idempotency_key`` already named a batch of ``owner``."""
        if idempotency_key is None:
            return False
        return await self.repo.find_by_idempotency_key(owner, idempotency_key) is not None

    async def active_count(self, owner: str | None = None) -> ActiveCount:
        """Running and queued batches (``owner`` given: only theirs)."""
        counts = await self.repo.count_active(owner)
        return ActiveCount(
            running=counts.get(BatchState.RUNNING, 0),
            queued=counts.get(BatchState.QUEUED, 0),
            max_concurrent=self.limits.max_concurrent,
        )

    async def page(self, *, owner: str | None, limit: int, offset: int) -> BatchPage:
        """One page of the batch list, newest first, without slides."""
        listed, total = await self.repo.list_batches(owner=owner, limit=limit, offset=offset)
        items = tuple(BatchStatus.of(batch, counts) for batch, counts in listed)
        return BatchPage(items, total, limit, offset)

    async def cancel(self, batch_id: str, *, owner: str | None = None) -> None:
        """Pending slides never start; running ones finish. Cancelling a final batch is a no-op."""
        await self.repo.get_batch(batch_id, owner=owner)
        async with self._admit_lock:
            batch = await self.repo.get_batch(batch_id)
            if batch.state.is_final:
                return
            await self.repo.request_cancel(batch_id)
            running = self._running.get(batch_id)
            if running is None:
                await self.repo.cancel_pending(batch_id, at=self._wall())
                await self.repo.set_batch_state(batch_id, BatchState.CANCELLED, at=self._wall())
                self.log.event("batch_cancelled", batch_id=batch_id, details={"while": "queued"})
                batch = await self.repo.get_batch(batch_id)
                self._publish_batch_end(batch, await self.repo.get_slides(batch_id))
                self._signal_finished(batch_id)
                return
            dropped = self.dispatcher.cancel_batch(batch_id)
            await self.repo.cancel_pending(batch_id, at=self._wall())
            running.open -= len(dropped)
            running.failed += len(dropped)
            self.log.event(
                "batch_cancel_requested", batch_id=batch_id, details={"dropped": len(dropped)}
            )
            await self._finish_locked(batch_id)
        await self._admit()

    async def retry_failed(self, batch_id: str, *, owner: str | None = None) -> int:
        """Put failed and cancelled slides back in the queue; returns how many."""
        await self.repo.get_batch(batch_id, owner=owner)
        async with self._admit_lock:
            batch = await self.repo.get_batch(batch_id)
            if batch.state is BatchState.QUEUED:
                raise Conflict(f"batch {batch_id} has not started yet; nothing to retry")
            reset = await self.repo.reset_for_retry(batch_id)
            self.log.event("batch_retry", batch_id=batch_id, details={"slides": len(reset)})
            await self._reopen_locked(batch, reset)
        await self._admit()
        return len(reset)

    async def regenerate(
        self,
        batch_id: str,
        slide_id: str,
        *,
        visual_desc: str | None = None,
        owner: str | None = None,
    ) -> SlideAnswer:
        """Generate one slide again, optionally with a new visual description."""
        await self.repo.get_batch(batch_id, owner=owner)
        key = await self.repo.find_slide_key(batch_id, slide_id)
        async with self._admit_lock:
            # Checked and reset under the lock: two concurrent calls never both pay.
            batch = await self.repo.get_batch(batch_id)
            current = await self.repo.get_slide(batch_id, key)
            if current.state in (SlideState.PENDING, SlideState.GENERATING):
                raise Conflict(
                    f"slide {slide_id!r} is already {current.state}; wait for it to finish"
                )
            slide = current.slide
            if visual_desc is not None:
                slide = slide.with_visual_desc(visual_desc)
            prompt = build_prompt(slide, batch.style_prompt, batch.aspect_ratio)
            record = await self.repo.reset_slide(
                batch_id, key, visual_desc=visual_desc, final_prompt=prompt
            )
            self.log.event(
                "slide_regenerate",
                batch_id=batch_id,
                details={
                    "slide_id": slide_id,
                    "page_num": slide.page_num,
                    "new_visual_desc": visual_desc is not None,
                },
            )
            await self._reopen_locked(batch, [record])
        await self._admit()
        return SlideAnswer.of(record)

    async def delete(self, batch_id: str, *, owner: str | None = None) -> None:
        """Remove a batch, its slides and its files; a running batch is stopped first."""
        await self.repo.get_batch(batch_id, owner=owner)
        async with self._admit_lock:
            if self._running.pop(batch_id, None) is not None:
                # Attempts in flight finish on their own and find the batch gone.
                self.dispatcher.cancel_batch(batch_id)
            await self.repo.delete_batch(batch_id)
        await asyncio.to_thread(self.images.delete_batch, batch_id)
        self.events.close(batch_id)
        self._signal_finished(batch_id)
        self.log.event("batch_deleted", batch_id=batch_id)
        await self._admit()

    @property
    def running_count(self) -> int:
        """Batches running in this process right now."""
        return len(self._running)

    # ----------------------------------------------------------------- internals

    async def _slide_final(self, batch_id: str, ok: bool, announce: Announce) -> None:
        running = self._running.get(batch_id)
        if running is not None:
            running.count(ok=ok)
        await announce()
        if running is not None and running.open <= 0:
            async with self._admit_lock:
                await self._finish_locked(batch_id)
            await self._admit()

    async def _admit(self) -> None:
        """Start queued batches, oldest first, while fewer than the maximum are running."""
        async with self._admit_lock:
            while len(self._running) < self.limits.max_concurrent:
                queued = await self.repo.queued_batches()
                candidates = [
                    b
                    for b in queued
                    if b.id not in self._running and (self._adopt_stored or b.id in self._own)
                ]
                if not candidates:
                    return
                await self._start_batch(candidates[0])

    async def _start_batch(self, batch: BatchRecord) -> None:
        slides = await self.repo.get_slides(batch.id)
        pending = [s for s in slides if s.state is SlideState.PENDING]
        successful = sum(1 for s in slides if s.state is SlideState.DONE)
        failed = sum(1 for s in slides if s.state in (SlideState.ERROR, SlideState.CANCELLED))
        await self.repo.set_batch_state(batch.id, BatchState.RUNNING, at=self._wall())
        batch = await self.repo.get_batch(batch.id)
        running = RunningBatch(batch, len(pending), successful, failed, self._clock.now())
        self._running[batch.id] = running
        self.log.event(
            "batch_generate_start",
            batch_id=batch.id,
            details={
                "total_slides": batch.total_slides,
                "pending_slides": len(pending),
                "max_workers": batch.effective_workers,
                "requested_workers": batch.requested_workers,
                "aspect_ratio": str(batch.aspect_ratio),
                "provider": self.provider.name,
            },
        )
        if not pending:
            await self._finish_locked(batch.id)
            return
        self.dispatcher.add_jobs(
            batch.id, [self._job(batch, s) for s in pending], cap=batch.effective_workers
        )

    async def _reopen_locked(self, batch: BatchRecord, reset: list[SlideRecord]) -> None:
        """Feed slides that went back to pending into a running batch, or queue the batch."""
        if not reset:
            return
        if batch.cancel_requested:
            await self.repo.clear_cancel(batch.id)  # the user asked for these slides again
        running = self._running.get(batch.id)
        if running is None:
            await self.repo.set_batch_state(batch.id, BatchState.QUEUED, at=self._wall())
            return
        counts = await self.repo.slide_counts(batch.id)
        running.open += len(reset)
        running.successful = counts.get(SlideState.DONE, 0)
        running.failed = counts.get(SlideState.ERROR, 0) + counts.get(SlideState.CANCELLED, 0)
        self.dispatcher.add_jobs(
            batch.id, [self._job(batch, s) for s in reset], cap=batch.effective_workers
        )

    def _job(self, batch: BatchRecord, record: SlideRecord) -> Job:
        request = ImageRequest(
            prompt=record.final_prompt,
            slide=record.slide,
            style_prompt=batch.style_prompt,
            aspect_ratio=batch.aspect_ratio,
            image_size=self.limits.image_size,
        )
        return Job(
            batch.id, record.key, request, attempts=record.attempts, requeues=record.requeues
        )

    async def _finish_locked(self, batch_id: str) -> None:
        """End a running batch whose slides have all reported (caller holds the lock)."""
        running = self._running.get(batch_id)
        if running is None or running.open > 0:
            return
        counts = await self.repo.slide_counts(batch_id)
        if counts.get(SlideState.PENDING, 0):
            # Slides back in 'pending' with no job for them: dispatch them rather than
            # ending a batch that still has work.
            pending = [
                s for s in await self.repo.get_slides(batch_id) if s.state is SlideState.PENDING
            ]
            logger.warning("batch %s had %d pending slides without jobs", batch_id, len(pending))
            running.open = len(pending)
            batch = running.record
            self.dispatcher.add_jobs(
                batch_id, [self._job(batch, s) for s in pending], cap=batch.effective_workers
            )
            return
        del self._running[batch_id]
        batch = await self.repo.get_batch(batch_id)
        state = final_batch_state(counts, cancelled=batch.cancel_requested)
        await self.repo.set_batch_state(batch_id, state, at=self._wall())
        batch = await self.repo.get_batch(batch_id)
        slides = await self.repo.get_slides(batch_id)
        successful = counts.get(SlideState.DONE, 0)
        self.log.event(
            "batch_generate_complete",
            batch_id=batch_id,
            summary={
                "total_slides": batch.total_slides,
                "successful": successful,
                "failed": batch.total_slides - successful,
                "total_time": round(batch.total_time or 0.0, 3),
                "status": str(state),
                "max_workers": batch.effective_workers,
                "cost": round(sum(s.cost or 0.0 for s in slides), 6),
                "placeholders": sum(1 for s in slides if s.placeholder),
            },
        )
        self._publish_batch_end(batch, slides)
        self._signal_finished(batch_id)

    def _signal_finished(self, batch_id: str) -> None:
        event = self._finished.pop(batch_id, None)
        if event is not None:
            event.set()

    def _publish_batch_end(self, batch: BatchRecord, slides: list[SlideRecord]) -> None:
        self.events.publish(batch.id, BatchStatus.of(batch, state_counts(slides)))
        self.events.close(batch.id)

    def _progress(self, batch_id: str) -> Progress | None:
        """Progress figures of a running batch, for its slide events (None once it ended)."""
        running = self._running.get(batch_id)
        if running is None:
            return None
        return running.progress(self._clock.now(), self._figures())

    def _eta(self, batch: BatchRecord, slides: list[SlideRecord]) -> float | None:
        if batch.state.is_final:
            return None
        running = self._running.get(batch.id)
        if running is not None:
            return running.eta(self._clock.now(), self._figures())
        remaining = sum(1 for s in slides if not s.state.is_final)
        return round(estimate_seconds(remaining, self._figures(), batch.effective_workers), 1)

    async def _queue_position(self, batch: BatchRecord) -> int | None:
        if batch.state is not BatchState.QUEUED:
            return None
        return await self.repo.queue_position(batch.id)

    async def _cleanup_loop(self, every: float) -> None:
        while True:
            try:
                await self.cleanup()
            except Exception:
                logger.exception("cleanup failed; trying again later")
            await self._clock.sleep(every)

    async def cleanup(self) -> int:
        """Delete finished batches older than the cleanup age; returns how many."""
        cutoff = self._wall() - self.limits.cleanup_after
        removed = 0
        for batch_id in await self.repo.batches_finished_before(cutoff):
            if batch_id in self._running:
                continue
            await self.repo.delete_batch(batch_id)
            await asyncio.to_thread(self.images.delete_batch, batch_id)
            removed += 1
        if removed:
            self.log.event(
                "batch_cleanup", details={"removed": removed, "older_than": cutoff.isoformat()}
            )
        return removed
