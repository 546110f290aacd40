"""Which batches run: admission (oldest first, up to the maximum), dispatch, counting, the end.

A running batch is a ``RunningBatch`` here and its jobs in the dispatcher; both are dropped
the moment it ends. Admission, finishing, cancel, retry, regenerate and delete change which
batches run and which slides are pending: they hold ``lock`` so they never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from slidebatch.core.aspect import ImageSize
from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.cost import no_room_left
from slidebatch.core.estimate import UpstreamFigures, estimate_seconds
from slidebatch.core.look import Look
from slidebatch.core.states import BatchState, SlideState, final_batch_state
from slidebatch.engine.answers import Progress, QuotaWait, state_counts
from slidebatch.engine.candidates import CandidateRounds
from slidebatch.engine.looks import Looks
from slidebatch.engine.progress import QueueShare, RunningBatch
from slidebatch.engine.watchers import Watchers
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.providers.base import ImageRequest
from slidebatch.scheduler.clock import Clock
from slidebatch.scheduler.dispatcher import Dispatcher, DispatcherStats
from slidebatch.scheduler.job import Job
from slidebatch.scheduler.rate_gate import GateStats
from slidebatch.storage.errors import StorageLost
from slidebatch.storage.images import ImageStore
from slidebatch.storage.repository import BatchRepository

# Background admission (``Runs.admit_soon``) waits while submits are being answered and
# this long after the last, at most ADMIT_WAIT_MAX_S after the first call: a burst of
# submits is answered before its batches start (seconds of the engine's clock).
ADMIT_QUIET_S = 0.01
ADMIT_WAIT_MAX_S = 0.25


@dataclass(frozen=True, slots=True)
class LostBatch:
    """A batch failed for want of its database: as this process last knew it, and why."""

    batch: BatchRecord
    counts: dict[SlideState, int]
    error: str


@dataclass(frozen=True, slots=True)
class RunsConfig:
    """What admission and dispatch act on."""

    max_concurrent: int
    image_size: ImageSize
    provider_name: str
    # A server adopts every unfinished batch in the database; a CLI run only the ones it
    # submits or resumes (``own``), so a re-run never pays for batches nobody reads.
    adopt_stored: bool = True


class Runs:
    """The running batches of this process and the lock over what changes them."""

    def __init__(
        self,
        *,
        repo: BatchRepository,
        dispatcher: Dispatcher,
        watchers: Watchers,
        log: EventLog,
        config: RunsConfig,
        clock: Clock,
        wall: Callable[[], datetime],
        figures: Callable[[], UpstreamFigures],
        images: ImageStore | None = None,
    ) -> None:
        self._repo = repo
        self.looks = Looks(repo, images)  # reference images; anchor mode holds slides back
        self.rounds = CandidateRounds(repo)  # regenerate(candidates=N)
        self._dispatcher = dispatcher
        self._watchers = watchers
        self._log = log
        self._config = config
        self._clock = clock
        self._wall = wall
        self.figures = figures  # what the gate knows now, for ETAs and advice
        self._running: dict[str, RunningBatch] = {}
        self.lost: dict[str, LostBatch] = {}  # failed when the database was lost under them
        self._own: set[str] = set()
        self._admitting: asyncio.Task[None] | None = None
        self._admit_asked = 0.0  # when admit_soon was last called (the clock's seconds)
        self._admit_calls = 0
        self._answering = 0  # submits being answered (``answering``)
        self.lock = asyncio.Lock()

    def __contains__(self, batch_id: object) -> bool:
        return batch_id in self._running

    def __len__(self) -> int:
        return len(self._running)

    def own(self, batch_id: str) -> None:
        """This engine submitted or resumed ``batch_id``: it may run it."""
        self._own.add(batch_id)

    def adopts(self, batch_id: str) -> bool:
        """Whether this engine runs ``batch_id`` (every batch, or only its own)."""
        return self._config.adopt_stored or batch_id in self._own

    # --- figures ---

    def progress(self, batch_id: str) -> Progress | None:
        """A running batch's figures now (None when it is not running here)."""
        running = self._running.get(batch_id)
        if running is None:
            return None
        stats = self._dispatcher.stats()  # once: every batch's queue and the gate
        share = self._queue_share(batch_id, stats)
        progress = running.progress(self._clock.now(), self.figures(), share)
        return replace(progress, waiting_for_quota=self._quota_wait(stats.gate))

    def outlook(
        self, batch: BatchRecord, slides: Sequence[SlideRecord]
    ) -> tuple[float | None, Progress | None]:
        """``batch``'s remaining time and its running figures (``progress``) at once: a
        running batch's remaining time is in its figures (one look at the queue and the
        gate per status answer, not one for each)."""
        progress = self.progress(batch.id)
        if progress is not None and batch.id in self._running:
            return (None if batch.state.is_final else progress.estimated_remaining_time), progress
        return self.eta(batch, slides), progress

    def quota_wait(self) -> QuotaWait | None:
        """The credential's park (a spent quota) as a UTC instant and its reason, if parked."""
        return self._quota_wait(self._dispatcher.stats().gate)

    def _quota_wait(self, gate: GateStats) -> QuotaWait | None:
        if gate.parked_until is None:
            return None
        left = max(0.0, gate.parked_until - self._clock.now())
        until = self._wall() + timedelta(seconds=left)
        return QuotaWait(until=until.replace(microsecond=0), reason=gate.park_reason or "")

    def eta(self, batch: BatchRecord, slides: Sequence[SlideRecord]) -> float | None:
        """Seconds left: from the queue and the gate, else the estimate for the unfinished."""
        if batch.state.is_final:
            return None
        running = self._running.get(batch.id)
        if running is not None:
            return running.eta(self._clock.now(), self.figures(), self._queue_share(batch.id))
        remaining = sum(1 for s in slides if not s.state.is_final)
        return round(estimate_seconds(remaining, self.figures(), batch.effective_workers), 1)

    def count(self, batch_id: str, *, ok: bool) -> None:
        """One slide of ``batch_id`` ended (nothing to count once the batch is not running)."""
        running = self._running.get(batch_id)
        if running is not None:
            running.count(ok=ok)

    def _queue_share(self, batch_id: str, stats: DispatcherStats | None = None) -> QueueShare:
        """This batch's unstarted slides and the other batches' among them (round robin)."""
        stats = stats or self._dispatcher.stats()
        shares = {b.batch_id: b.queued + b.backing_off for b in stats.batches}
        ours = shares.pop(batch_id, 0)
        return QueueShare(ours, sum(min(theirs, ours) for theirs in shares.values()))

    # --- admission (each takes the lock itself) ---

    async def admit(self) -> None:
        """Start queued batches, oldest first, while fewer than the maximum are running."""
        async with self.lock:
            while len(self._running) < self._config.max_concurrent:
                # One read of the queue per pass, not per batch started (30 submits at once
                # were 30 reads of a 30-batch queue); the lock keeps the list true meanwhile.
                queued = await self._repo.queued_batches()
                candidates = [b for b in queued if b.id not in self._running and self.adopts(b.id)]
                if not candidates:
                    return
                room = self._config.max_concurrent - len(self._running)
                await self._start_many_locked(candidates[:room])

    def admit_soon(self) -> None:
        """Admit in the background, once the submits arriving with this one are answered.

        The pass waits while a submit is being answered (``answering``) and until none was
        for ``ADMIT_QUIET_S``, but never longer than ``ADMIT_WAIT_MAX_S`` after the first
        call it serves. Started at once, the dispatch of the first batches stored took the
        CPU from the submits still being answered. A call that comes during a pass makes
        another pass after it, so no batch stored meanwhile waits for the next submit or
        finish to be admitted.
        """
        self._admit_asked = self._clock.now()
        self._admit_calls += 1
        if self._admitting is None or self._admitting.done():
            first = self._admit_asked
            self._admitting = asyncio.create_task(self._admit_when_quiet(first), name="admit")

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Hold background admission (``admit_soon``) while the block answers a submit."""
        self._answering += 1
        try:
            yield
        finally:
            self._answering -= 1
            self._admit_asked = self._clock.now()

    async def _admit_when_quiet(self, first: float) -> None:
        """Admission passes, the first once quiet (``admit_soon``) counting from ``first``."""
        while True:
            now = self._clock.now()
            last = first + ADMIT_WAIT_MAX_S
            if self._answering == 0:
                last = min(last, self._admit_asked + ADMIT_QUIET_S)
            if now < last:
                await self._clock.sleep(min(last - now, ADMIT_QUIET_S))
                continue
            calls = self._admit_calls
            await self._admit_logged()
            if self._admit_calls == calls:
                return
            first = self._clock.now()

    async def stop_admitting(self) -> None:
        """Cancel a background admission (the engine stops)."""
        task, self._admitting = self._admitting, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _admit_logged(self) -> None:
        try:
            await self.admit()
        except Exception as exc:  # the next submit or finish admits again
            self._log.failure("batch_admit_failed", exc)

    async def round_ended(self, batch_id: str, key: int) -> None:
        """A slide reached a final state: keep its image if it is a candidates round.

        Before the slide's event is published: a page that lists the candidates on "done"
        must find this one (the last round brings no later event to list them again).
        """
        if not self.rounds.tracks(batch_id, key):
            return
        async with self.lock:
            await self.rounds.keep(batch_id, key)

    async def slide_ended(self, batch_id: str, key: int) -> None:
        """A slide reached a final state: a candidates round may send it out again."""
        if not self.rounds.tracks(batch_id, key):
            return
        async with self.lock:
            again = await self.rounds.ended(batch_id, key)
            running = self._running.get(batch_id)
            if again is not None and running is not None:
                await self.reopen_locked(running.record, [again])

    async def finish_if_done(self, batch_id: str) -> None:
        """End the batch if its last slide just reported, then admit the next."""
        running = self._running.get(batch_id)
        if running is not None and self.looks.holding(batch_id):
            async with self.lock:
                released = await self.looks.release(batch_id)  # the cover has ended
                if released and batch_id in self._running:
                    self._dispatch(running.record, released)
        if running is None or running.open > 0:
            return
        async with self.lock:
            await self.finish_locked(batch_id)
        await self.admit()

    # --- changes (the caller holds the lock) ---

    async def start_locked(self, batch: BatchRecord) -> None:
        """Run ``batch`` (one resumed): its pending slides go to the dispatcher."""
        slides = await self._capped(batch, await self._repo.get_slides(batch.id))
        batch = await self._repo.set_batch_state(batch.id, BatchState.RUNNING, at=self._wall())
        await self._run_started(batch, slides, await self._repo.get_look(batch.id))

    async def _start_many_locked(self, batches: Sequence[BatchRecord]) -> None:
        """Run queued ``batches`` in their order (the FIFO's): stored as running in one
        transaction, then each one's pending slides go to the dispatcher in that order.

        A failure while handing one over does not keep the others from running; the first
        is raised once all were handed over.
        """
        started = await self._repo.start_batches([b.id for b in batches], at=self._wall())
        failure: Exception | None = None
        for batch, slides, look in started:
            try:
                capped = await self._capped(batch, slides)
                if capped is not slides:  # cancelled at its cap: the row changed too
                    batch = await self._repo.get_batch(batch.id)
                await self._run_started(batch, capped, look)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    async def _capped(self, batch: BatchRecord, slides: list[SlideRecord]) -> list[SlideRecord]:
        """``slides``, or, when the batch's spend is at its ``max_cost`` already, as they are
        once its pending ones are cancelled."""
        if batch.max_cost is not None and no_room_left(
            batch.max_cost, (s.spent for s in slides), (s.cost for s in slides)
        ):
            return await self._cancel_at_cap(batch, batch.max_cost, slides)
        return slides

    async def _run_started(self, batch: BatchRecord, slides: list[SlideRecord], look: Look) -> None:
        """A batch stored as running: count its slides, announce it, dispatch the pending."""
        pending = [s for s in slides if s.state is SlideState.PENDING]
        counts = Progress.counted(batch.total_slides, state_counts(slides), None)
        self._running[batch.id] = RunningBatch(
            batch,
            len(pending),
            counts.successful,
            counts.failed,
            self._clock.now(),
            cancel_requested=batch.cancel_requested,
        )
        self._log.event(
            "batch_generate_start", batch_id=batch.id, details=self._start_fields(batch, pending)
        )
        self._watchers.started(batch, slides)
        if not pending:
            await self.finish_locked(batch.id)
            return
        self._dispatch(batch, await self.looks.start(batch.id, slides, look))

    async def _cancel_at_cap(
        self, batch: BatchRecord, max_cost: float, slides: list[SlideRecord]
    ) -> list[SlideRecord]:
        """Its spend is at ``max_cost`` already: cancel the pending slides before any starts."""
        self._log.event(
            "batch_max_cost_reached",
            batch_id=batch.id,
            details={"max_cost": max_cost, "spent": sum(s.spent or 0.0 for s in slides)},
        )
        await self._repo.request_cancel(batch.id, reason="max_cost")
        await self._repo.cancel_pending(batch.id, at=self._wall())
        return await self._repo.get_slides(batch.id)

    def _start_fields(self, batch: BatchRecord, pending: list[SlideRecord]) -> dict[str, Any]:
        return {
            "total_slides": batch.total_slides,
            "pending_slides": len(pending),
            "max_workers": batch.effective_workers,
            "requested_workers": batch.requested_workers,
            "aspect_ratio": str(batch.aspect_ratio),
            "provider": self._config.provider_name,
        }

    async def reopen_locked(self, batch: BatchRecord, reset: list[SlideRecord]) -> None:
        """Feed slides that went back to pending into a running batch, or queue the batch."""
        if not reset:
            return
        if batch.cancel_requested:
            await self._repo.clear_cancel(batch.id)  # the user asked for these slides again
        self._watchers.changed(batch.id, [s.key for s in reset])
        running = self._running.get(batch.id)
        if running is None:
            await self._repo.set_batch_state(batch.id, BatchState.QUEUED, at=self._wall())
            self._watchers.changed(batch.id, ())
            return
        counts = Progress.counted(batch.total_slides, await self._repo.slide_counts(batch.id), None)
        running.open += len(reset)
        running.successful, running.failed = counts.successful, counts.failed
        running.cancel_requested = False
        self._dispatch(running.record, reset)

    async def storage_lost(self, batch_id: str, error: StorageLost) -> None:
        """The database is gone under a running batch: the batch fails now, visibly.

        Nothing can be stored any more: its queued slides never start (nothing more is
        paid), and the failure is kept here (status answers and the stream's last event say
        "failed" and why; waiters wake). A restart on a restored database resumes it.
        """
        async with self.lock:
            running = self._running.pop(batch_id, None)
            if running is None:
                return
            self._dispatcher.cancel_batch(batch_id)
            self.looks.forget(batch_id)
            self.rounds.forget(batch_id)
        batch = replace(running.record, state=BatchState.FAILED, finished_at=self._wall())
        unfinished = batch.total_slides - running.successful
        counts = dict.fromkeys(SlideState, 0)
        counts |= {SlideState.DONE: running.successful, SlideState.ERROR: unfinished}
        message = f"{error}; the batch stopped with {unfinished} slide(s) unfinished"
        self.lost[batch_id] = LostBatch(batch, counts, message)
        details = {"error": message, "successful": running.successful, "unfinished": unfinished}
        self._log.event("batch_failed", level="error", batch_id=batch_id, details=details)
        self._watchers.ended(batch, counts, error=message)

    def cancel_locked(self, batch_id: str) -> bool:
        """Drop a running batch's queued jobs (running ones finish); False if not running."""
        running = self._running.get(batch_id)
        if running is None:
            return False
        dropped = len(self._dispatcher.cancel_batch(batch_id))
        dropped += len(self.looks.drop_held(batch_id))  # anchor mode: waiting for the cover
        running.open -= dropped
        running.failed += dropped
        running.cancel_requested = True
        self._log.event("batch_cancel_requested", batch_id=batch_id, details={"dropped": dropped})
        return True

    def drop_locked(self, batch_id: str) -> None:
        """Forget a batch being deleted; attempts in flight finish and find it gone."""
        self.looks.forget(batch_id)
        self.rounds.forget(batch_id)
        if self._running.pop(batch_id, None) is not None:
            self._dispatcher.cancel_batch(batch_id)

    async def finish_locked(self, batch_id: str) -> None:
        """End a running batch whose slides have all reported."""
        running = self._running.get(batch_id)
        if running is None or running.open > 0:
            return
        counts = await self._repo.slide_counts(batch_id)
        if counts[SlideState.PENDING]:
            # Slides back in 'pending' with no job for them: dispatch them rather than
            # ending a batch that still has work.
            slides = await self._repo.get_slides(batch_id)
            pending = [s for s in slides if s.state is SlideState.PENDING]
            self._log.event(
                "batch_pending_without_jobs",
                level="warning",
                batch_id=batch_id,
                details={"pending": len(pending)},
            )
            running.open = len(pending)
            self._dispatch(running.record, pending)
            return
        state = final_batch_state(counts, cancelled=running.cancel_requested)
        # Each step waits out a database outage (storage/retrying.py): a batch always
        # reaches its final state; it leaves the running set once that state is stored. A
        # lost database is not waited out: the batch stays for ``storage_lost`` to fail it.
        try:
            batch = await self._repo.set_batch_state(batch_id, state, at=self._wall())
        except StorageLost:
            raise
        except BaseException:
            self._forget(batch_id)
            raise
        self._forget(batch_id)
        slides = await self._repo.until_answered(
            "read slides", lambda: self._repo.get_slides(batch_id), batch_id=batch_id
        )
        self._log.event(
            "batch_generate_complete", batch_id=batch_id, summary=completion_summary(batch, slides)
        )
        self._watchers.ended(batch, counts)

    def _forget(self, batch_id: str) -> None:
        self._running.pop(batch_id, None)
        self.looks.forget(batch_id)

    def _dispatch(self, batch: BatchRecord, slides: Sequence[SlideRecord]) -> None:
        jobs = [self._job(batch, s) for s in slides]
        if batch.max_cost is not None:
            # One image at a time unless its cost guard gates it already (one may not come:
            # a regenerate of a finished batch).
            self._dispatcher.gate_batch(batch.id, _one_at_a_time, unless_set=True)
        self._dispatcher.add_jobs(batch.id, jobs, cap=batch.effective_workers)

    def _job(self, batch: BatchRecord, record: SlideRecord) -> Job:
        request = ImageRequest(
            prompt=record.final_prompt,
            slide=record.slide,
            style_prompt=batch.style_prompt,
            aspect_ratio=batch.aspect_ratio,
            image_size=self._config.image_size,
            reference_images=self.looks.references(batch.id, record.key),
        )
        return Job(
            batch.id, record.key, request, attempts=record.attempts, requeues=record.requeues
        )


def completion_summary(batch: BatchRecord, slides: Sequence[SlideRecord]) -> dict[str, Any]:
    """The ``batch_generate_complete`` summary (the seed's fields)."""
    successful = sum(1 for s in slides if s.state is SlideState.DONE)
    return {
        "total_slides": batch.total_slides,
        "successful": successful,
        "failed": batch.total_slides - successful,
        "total_time": round(batch.total_time or 0.0, 3),
        "status": str(batch.state),
        "max_workers": batch.effective_workers,
        "cost": round(sum(s.spent or 0.0 for s in slides), 6),
        "placeholders": sum(1 for s in slides if s.placeholder),
    }


def _one_at_a_time(running: int) -> bool:
    """The gate of a batch with a ``max_cost`` and no cost guard yet: each image's cost is
    stored before the next starts."""
    return running < 1
