"""The batch engine: every batch operation, with each slide's state persisted as it changes.

The database is the record of truth: a slide is ``pending`` until an attempt starts,
``generating`` while one runs, and ``done``/``error``/``cancelled`` at the end. On start the
engine turns interrupted ``generating`` slides back to ``pending`` and (a server; see
``adopt_stored``) resumes every unfinished batch, so a crash or ``kill -9`` loses nothing and
no finished slide is paid for twice. A CLI run resumes only the batch it asks for (``resume``).

The parts, each called by the engine and returning values (no callbacks between them):
``Runs`` (which batches run, admission, the end), ``SlideFlow`` (the dispatcher's reports:
recorder -> count -> watchers -> finish), ``SlideRecorder`` (persist, log, return the
outcome), ``Watchers`` (events and waiters) and ``BatchReader`` (``engine.read``: answers).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slidebatch.core.aspect import ImageSize
from slidebatch.core.batch import BatchOrigin, BatchRecord, SlideRecord
from slidebatch.core.cost import no_room_left
from slidebatch.core.estimate import UpstreamFigures
from slidebatch.core.fingerprint import request_fingerprint
from slidebatch.core.prompt import build_prompt
from slidebatch.core.slide import BatchRequest, effective_workers
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import Progress, SlideAnswer
from slidebatch.engine.candidates import rounds_of
from slidebatch.engine.events import EventBus
from slidebatch.engine.flow import SlideFlow
from slidebatch.engine.metered import MeteredListener
from slidebatch.engine.reader import BatchReader
from slidebatch.engine.recorder import PlaceholderRenderer, SlideRecorder
from slidebatch.engine.runs import Runs, RunsConfig
from slidebatch.engine.watchers import Watchers
from slidebatch.errors import Conflict, NotFound, QuotaExhausted
from slidebatch.observability.metrics import Metrics
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.scheduler.clock import Clock
from slidebatch.scheduler.dispatcher import Dispatcher, JobListener
from slidebatch.scheduler.fair_queue import StartGate
from slidebatch.storage.images import ImageStore
from slidebatch.storage.repository import BatchRepository


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
        provider_name: str,
        dispatcher: Dispatcher,
        limits: EngineLimits,
        log: EventLog,
        events: EventBus,
        clock: Clock,
        figures: Callable[[], UpstreamFigures],
        metrics: Metrics | None = None,
        placeholder: PlaceholderRenderer | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        adopt_stored: bool = True,
    ) -> None:
        self.repo = repo
        self.images = images
        self.dispatcher = dispatcher
        self.limits = limits
        self.log = log
        self.events = events
        self._provider_name = provider_name
        self._clock = clock
        self._wall = wall
        self.watchers = Watchers(repo, events)
        config = RunsConfig(limits.max_concurrent, limits.image_size, provider_name, adopt_stored)
        self.runs = Runs(
            repo=repo,
            dispatcher=dispatcher,
            watchers=self.watchers,
            log=log,
            config=config,
            clock=clock,
            wall=wall,
            figures=figures,
            images=images,
        )
        self.read = BatchReader(
            repo, self.runs, self.watchers.versions, max_concurrent=limits.max_concurrent
        )
        recorder = SlideRecorder(
            repo=repo,
            images=images,
            provider_name=provider_name,
            log=log,
            wall=wall,
            placeholder=placeholder,
        )
        flow = SlideFlow(recorder, self.runs, self.watchers)
        self._listener: JobListener = flow
        if metrics is not None:
            # With degradation on, a failed slide ends as a marked placeholder, not an error.
            degrades = placeholder is not None
            self._listener = MeteredListener(flow, metrics, provider_name, degrades=degrades)
        self._tasks: list[asyncio.Task[None]] = []

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Resume what a previous process left unfinished, then start dispatching."""
        loop = asyncio.create_task(self.dispatcher.run(self._listener), name="dispatcher")
        self._tasks.append(loop)
        async with self.runs.lock:
            for batch in await self.repo.recover_interrupted():
                if batch.state is BatchState.RUNNING and self.runs.adopts(batch.id):
                    self.log.event("batch_resumed", batch_id=batch.id)
                    await self.runs.start_locked(batch)
        await self.runs.admit()

    async def stop(self) -> None:
        """Stop dispatching. Unfinished slides stay ``pending`` and resume at the next start."""
        await self.runs.stop_admitting()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # a crashed loop must not hide the shutdown
                self.log.failure("engine_task_failed", exc, task=task.get_name())
        self._tasks.clear()

    def hold(self) -> int:
        """Start no new request (a CLI's first Ctrl-C); how many are in flight now.

        The ones in flight go on and are recorded as usual (``settle`` waits for them); the
        slides not started stay pending and resume at the next start.
        """
        self.dispatcher.hold()
        return self.dispatcher.in_flight()

    def in_flight(self) -> int:
        """Requests started and not yet recorded."""
        return self.dispatcher.in_flight()

    async def settle(self) -> None:
        """Wait until every request in flight has come back and been recorded."""
        await self.dispatcher.settle()

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
        admit_later: bool = False,
    ) -> tuple[BatchRecord, bool]:
        """Store a new batch (queued) and admit it when a place is free.

        Returns ``(batch, created)``; a repeated ``idempotency_key`` returns the first batch,
        or raises ``Conflict`` when the request differs from the one that made it.
        ``admit_later``: return once the batch is stored and admit it in the background, so
        concurrent submits do not wait on each other's admission (the 202 answer).
        """
        limits = self.limits
        workers = effective_workers(request.max_workers, limits.default_workers, limits.max_workers)
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
            request_fingerprint=request_fingerprint(request) if idempotency_key else None,
        )
        self.runs.own(batch.id)
        if created:
            details = {
                "total_slides": batch.total_slides,
                "requested_workers": request.max_workers,
                "max_workers": workers,
                "aspect_ratio": str(request.aspect_ratio),
                "provider": self._provider_name,
            }
            self.log.event("batch_created", batch_id=batch.id, details=details)
            if admit_later:
                self.runs.admit_soon()
            else:
                await self.runs.admit()
        return batch, created

    def answering(self) -> contextlib.AbstractContextManager[None]:
        """Wrap the answer to a submit with ``admit_later``: the batches it and its
        neighbours stored start once they are answered (``Runs.admit_soon``)."""
        return self.runs.answering()

    async def resume(self, batch_id: str) -> BatchRecord:
        """Run a stored unfinished batch in this engine (a CLI re-run continuing its batch).

        Only slides not yet done are dispatched. A final batch is returned as it is.
        """
        self.runs.own(batch_id)
        async with self.runs.lock:
            batch = await self.repo.get_batch(batch_id)
            if batch.state is BatchState.RUNNING and batch_id not in self.runs:
                self.log.event("batch_resumed", batch_id=batch_id)
                await self.runs.start_locked(batch)
        await self.runs.admit()
        return await self.repo.get_batch(batch_id)

    async def wait(self, batch_id: str) -> BatchRecord:
        """Wait until ``batch_id`` reaches a final state; ``NotFound`` if it is deleted."""
        return await self.watchers.until_final(batch_id)

    async def wait_unless_parked(self, batch_id: str, *, check_every: float = 1.0) -> None:
        """Wait until ``batch_id`` is final, or raise ``QuotaExhausted`` once the credential parks.

        For callers that hold a client waiting (the synchronous generate endpoints): a spent
        quota lasts hours, so they answer at once with the reset time instead of hanging.
        The batch is not touched: it resumes when the quota resets. ``check_every`` is in
        seconds (the park is read from the gate, which pushes no event when it parks).
        """
        final = asyncio.ensure_future(self.wait(batch_id))
        try:
            while True:
                done, _ = await asyncio.wait({final}, timeout=check_every)
                if done:
                    final.result()
                    return
                quota = self.runs.quota_wait()
                if quota is not None:
                    raise QuotaExhausted(
                        f"the upstream's quota is spent until {quota.until.isoformat()}"
                        f" ({quota.reason or 'no reason given'}); batch {batch_id} resumes then",
                        reset_at=quota.until.timestamp(),
                        status=None,
                    )
        finally:
            final.cancel()

    async def wait_slide(self, batch_id: str, slide_id: str) -> SlideRecord:
        """Wait until one slide reaches a final state (or its batch ends); returns it then."""
        return await self.watchers.until_slide_final(batch_id, slide_id)

    def stop_starting(self, batch_id: str) -> None:
        """Start no more slides of ``batch_id`` from now on, before any await (``max_cost``);
        ``cancel`` then ends it (its running slides finish)."""
        self.dispatcher.hold_batch(batch_id)

    def gate_starts(self, batch_id: str, gate: StartGate | None) -> None:
        """Start a slide of ``batch_id`` only when ``gate(running)`` allows it (None: no
        gate); synchronous (``max_cost``: the images its cap lets be in flight)."""
        self.dispatcher.gate_batch(batch_id, gate)

    def starts_changed(self) -> None:
        """A gate's answer may have changed: the dispatcher looks again."""
        self.dispatcher.poke()

    async def cancel(
        self, batch_id: str, *, owner: str | None = None, reason: str | None = None
    ) -> None:
        """Pending slides never start; running ones finish. Cancelling a final batch is a no-op.

        ``reason``: kept as the batch's ``stop_reason`` ("max_cost": the cost guard stops it).
        """
        async with self.runs.lock:
            batch = await self.repo.get_batch(batch_id, owner=owner)
            if batch.state.is_final:
                return
            await self.repo.request_cancel(batch_id, reason=reason)
            running = self.runs.cancel_locked(batch_id)  # before any await: no job starts
            await self.repo.cancel_pending(batch_id, at=self._wall())
            self.watchers.changed(batch_id)
            if running:
                await self.runs.finish_locked(batch_id)
            else:
                batch = await self.repo.set_batch_state(
                    batch_id, BatchState.CANCELLED, at=self._wall()
                )
                self.log.event("batch_cancelled", batch_id=batch_id, details={"while": "queued"})
                self.watchers.ended(batch, await self.repo.slide_counts(batch_id))
        await self.runs.admit()

    async def retry_failed(self, batch_id: str, *, owner: str | None = None) -> int:
        """Put failed and cancelled slides back in the queue; returns how many."""
        async with self.runs.lock:
            batch = await self.repo.get_batch(batch_id, owner=owner)
            if batch.state is BatchState.QUEUED:
                raise Conflict(f"batch {batch_id} has not started yet; nothing to retry")
            reset = await self.repo.reset_for_retry(batch_id)
            self.log.event("batch_retry", batch_id=batch_id, details={"slides": len(reset)})
            await self.runs.reopen_locked(batch, reset)
        await self.runs.admit()
        return len(reset)

    async def regenerate(
        self,
        batch_id: str,
        slide_id: str,
        *,
        visual_desc: str | None = None,
        owner: str | None = None,
        candidates: int = 1,
    ) -> SlideAnswer:
        """Generate one slide again, optionally with a new visual description.

        ``candidates`` > 1 makes that many images in a row, each kept as a candidate to pick.
        """
        async with self.runs.lock:
            # Checked and reset under the lock: two concurrent calls never both pay.
            batch = await self.repo.get_batch(batch_id, owner=owner)
            key = await self.repo.find_slide_key(batch_id, slide_id)
            current = await self.repo.get_slide(batch_id, key)
            if current.state in (SlideState.PENDING, SlideState.GENERATING):
                raise Conflict(
                    f"slide {slide_id!r} is already {current.state}; wait for it to finish"
                )
            await self._check_room(batch, slide_id, candidates)
            slide = current.slide
            if visual_desc is not None:
                slide = slide.with_visual_desc(visual_desc)
            prompt = build_prompt(slide, batch.style_prompt, batch.aspect_ratio)
            record = await self.repo.reset_slide(
                batch_id,
                key,
                visual_desc=visual_desc,
                final_prompt=prompt,
                rounds=rounds_of(candidates),
            )
            details = {
                "slide_id": slide_id,
                "page_num": slide.page_num,
                "new_visual_desc": visual_desc is not None,
            }
            details["candidates"] = candidates
            self.log.event("slide_regenerate", batch_id=batch_id, details=details)
            self.runs.rounds.want(batch_id, key, candidates)
            await self.runs.reopen_locked(batch, [record])
        await self.runs.admit()
        return SlideAnswer.of(record)

    async def pick_candidate(
        self, batch_id: str, slide_id: str, n: int, *, owner: str | None = None
    ) -> SlideRecord:
        """Show candidate ``n`` (from 1) of a done slide as its image; the others are kept.
        Status answers, their ETag and ``?since=`` show the change, and streams hear of it.

        Raises ``NotFound`` (batch, slide or candidate) or ``Conflict`` (the slide is not
        done)."""
        async with self.runs.lock:
            await self.repo.get_batch(batch_id, owner=owner)
            key = await self.repo.find_slide_key(batch_id, slide_id)
            found = await self.repo.candidates(batch_id, key)
            chosen = next((c for c in found if c.seq == n), None)
            if chosen is None:
                raise NotFound(f"slide {slide_id!r} has no candidate {n}")
            record = await self.repo.choose_candidate(batch_id, key, chosen)
        await self._slide_changed(record)
        return record

    async def _slide_changed(self, record: SlideRecord) -> None:
        """Tell this process's status answers and streams that ``record`` was stored."""
        batch = await self.repo.get_batch(record.batch_id)
        counts = await self.repo.slide_counts(record.batch_id)
        progress = Progress.counted(batch.total_slides, counts, None)
        await self.watchers.slide(record.batch_id, record.key, progress)

    async def _check_room(self, batch: BatchRecord, slide_id: str, images: int) -> None:
        """Raise ``Conflict`` before anything changes when ``images`` more, after the
        slides pending or in flight, would pass the batch's ``max_cost`` (priced at its
        dearest image so far): a regenerate that cannot
        be paid keeps the slide's image and the batch's state, instead of being reset and
        then cancelled by the cost guard."""
        if batch.max_cost is None:
            return
        slides = await self.repo.get_slides(batch.id)
        spends = [s.spent for s in slides]
        # The batch's slides still to be paid (in flight, or pending on a running batch)
        # come first: counting only what was paid let a regenerate in that the cost guard
        # then stopped at the cap, cancelling a slide the batch had been sized for.
        unpaid = sum(1 for s in slides if s.state in (SlideState.PENDING, SlideState.GENERATING))
        prices = [s.cost for s in slides]
        if no_room_left(batch.max_cost, spends, prices, images=images + unpaid):
            spent = sum(c for c in spends if c is not None)
            raise Conflict(
                f"regenerating {slide_id!r} ({images} image(s)) would pass the batch's "
                f"max_cost of ${batch.max_cost:g} (${spent:.4g} spent so far); "
                "nothing was changed"
            )

    async def delete(self, batch_id: str, *, owner: str | None = None) -> None:
        """Remove a batch, its slides and its files; a running batch is stopped first."""
        async with self.runs.lock:
            await self.repo.get_batch(batch_id, owner=owner)
            self.runs.drop_locked(batch_id)
            await self.repo.delete_batch(batch_id)
        await asyncio.to_thread(self.images.delete_batch, batch_id)
        await self.removed(batch_id)
        self.log.event("batch_deleted", batch_id=batch_id)
        await self.runs.admit()

    async def removed(self, batch_id: str) -> None:
        """A deleted batch (by ``delete`` or ``cleanup``): its streams end, waiters wake,
        status answers built before are dropped."""
        self.watchers.gone(batch_id)

    @property
    def running_count(self) -> int:
        """Batches running in this process right now."""
        return len(self.runs)

    # ----------------------------------------------------------------- cleanup

    async def _cleanup_loop(self, every: float) -> None:
        while True:
            try:
                await self.cleanup()
            except Exception as exc:
                self.log.failure("batch_cleanup_failed", exc)
            await self._clock.sleep(every)

    async def cleanup(self) -> int:
        """Delete finished batches older than the cleanup age; returns how many."""
        cutoff = self._wall() - self.limits.cleanup_after
        removed = 0
        for batch_id in await self.repo.batches_finished_before(cutoff):
            if batch_id in self.runs:
                continue
            await self.repo.delete_batch(batch_id)
            await self.removed(batch_id)
            await asyncio.to_thread(self.images.delete_batch, batch_id)
            removed += 1
        if removed:
            details = {"removed": removed, "older_than": cutoff.isoformat()}
            self.log.event("batch_cleanup", details=details)
        return removed
