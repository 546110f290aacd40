"""One claimed slide's attempt in a fleet worker: call the upstream, store the outcome fenced.

The same steps as the single-process dispatcher and recorder (``scheduler/dispatcher.py``,
``engine/recorder.py``), with two differences: every write carries the claim's attempt
number (``FleetStore`` refuses it once the slide was claimed again), and after a final
result this process asks the database whether the batch has ended (``finish_if_done``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal

from slidebatch.engine.runs import completion_summary
from slidebatch.errors import ProviderError, QuotaExhausted
from slidebatch.fleet.metrics import FleetMetrics
from slidebatch.fleet.store import Claim, DoneValues, Finished, FleetStore
from slidebatch.observability.metrics import Metrics
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.providers.base import ImageProvider, ImageRequest, ImageResult
from slidebatch.scheduler.clock import Clock, unless
from slidebatch.scheduler.deadline import call_provider
from slidebatch.scheduler.dispatcher import RETURN_AHEAD_S
from slidebatch.scheduler.job import Job
from slidebatch.scheduler.rate_gate import GatePermit, RateGate, far_park
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.scheduler.saves import Saves
from slidebatch.storage.images import ImageStore

PlaceholderRenderer = Callable[[ImageRequest, str], ImageResult]
_SUFFIX_BY_MIME = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
# A confirm that waited longer than this (a pause or park came before the request left)
# asks the database again whether the batch still wants the slide: a user's cancel takes
# effect within about this long, and a confirm that returns at once costs no round trip.
RECHECK_AFTER_S = 1.0


@dataclass(frozen=True, slots=True)
class AttemptParts:
    """What an attempt uses; shared by every attempt of one worker."""

    store: FleetStore
    provider: ImageProvider
    gate: RateGate
    policy: RetryPolicy
    images: ImageStore
    log: EventLog
    metrics: Metrics
    fleet_metrics: FleetMetrics
    clock: Clock
    wall: Callable[[], datetime]
    timeout: float
    placeholder: PlaceholderRenderer | None = None


class Attempt:
    """Runs claimed slides to a stored outcome."""

    def __init__(self, parts: AttemptParts, saves: Saves | None = None) -> None:
        self._p = parts
        # An image in hand is stored even when the worker stops (it drains these saves).
        self._saves = saves if saves is not None else Saves(parts.log, parts.clock)

    async def run(self, claim: Claim, request: ImageRequest, permit: GatePermit) -> bool:
        """Make the attempt ``claim`` stands for; stores and logs what came of it.

        False: a park (a spent quota) ending more than ``RETURN_AHEAD_S`` away came before
        the request left; nothing was sent, the permit was given back (``abandon``), and the
        claim is still held: the caller gives it back (``FleetStore.give_back``) rather than
        hold it 'generating' in ``confirm`` until the park ends, as the dispatcher does."""
        slide = claim.slide
        job = Job(claim.batch.id, slide.key, request, slide.attempts - 1, slide.requeues)
        attempt = slide.attempts
        leaves = await self._leaves(claim, job, permit)
        if leaves != "sent":
            return leaves != "parked"
        self._p.log.event("slide_started", batch_id=job.batch_id, details=_where(job, attempt))
        try:
            result = await self._call(request)
        except ProviderError as error:
            permit.failure(error)
            self._p.metrics.upstream_request(error.status or error.kind)
            await self._after_failure(claim, job, error, attempt)
        except asyncio.CancelledError:
            permit.release()
            raise
        else:
            permit.success(result.rate_limit)
            self._p.metrics.upstream_request(200, result.latency_s)
            await self._saves.run(self._store(claim, job, result, attempt))
        return True

    async def _leaves(
        self, claim: Claim, job: Job, permit: GatePermit
    ) -> Literal["sent", "dropped", "parked"]:
        """Whether the request leaves now ("sent"): the claim is still wanted, and the
        permit is confirmed (``GatePermit.confirm``) no longer than ``RECHECK_AFTER_S``
        after that was known. The check takes a round trip, so the start counts from the
        confirm (written before the request leaves when that made it late), and a 429
        heard of meanwhile holds it; when the confirm waited out such a pause, the batch may
        have been cancelled or deleted during it, so it is asked again ("dropped": it was,
        the permit given back). A park ending more than ``RETURN_AHEAD_S`` away is not
        waited out in the confirm (hours, the slide shown 'generating' with nothing sent):
        known before it, the permit is given back ("parked"); heard of while the confirm
        waits (another worker's park reaches a fleet gate by NOTIFY and its next round), the
        confirm is cancelled within a ``RETURN_AHEAD_S``, which gives the start back."""
        while await self._still_wanted(claim, job, permit):
            if self._parked_far():
                permit.abandon()  # never sent: the gate un-counts its start
                return "parked"
            asked = self._p.clock.now()
            confirming = await unless(
                permit.confirm(),
                self._parked_far,
                clock=self._p.clock,
                every=RETURN_AHEAD_S,
                left=lambda _: permit.abandon(),  # confirmed as the attempt was cancelled
            )
            if confirming.cancelled():
                # Its cancellation gave the start back (``GatePermit.confirm``); a second
                # report is ignored (``abandon`` once), and covers a confirm never begun.
                permit.abandon()
                return "parked"
            confirming.result()  # an error of the confirm's is the attempt's
            if self._p.clock.now() - asked <= RECHECK_AFTER_S:
                return "sent"
        return "dropped"

    def _parked_far(self) -> bool:
        """Whether a park (a spent quota) keeps every start more than ``RETURN_AHEAD_S``
        away (``rate_gate.far_park``); a pause is waited out."""
        now = self._p.clock.now()
        return far_park(self._p.gate.stats(), now, within=RETURN_AHEAD_S) is not None

    async def _still_wanted(self, claim: Claim, job: Job, permit: GatePermit) -> bool:
        """The claim waited for the gate: a batch cancelled or deleted meanwhile sends
        nothing (the slot goes back to the gate, the slide ends cancelled)."""
        try:
            wanted = await self._p.store.still_wanted(claim, at=self._p.wall())
        except asyncio.CancelledError:
            permit.abandon()
            raise
        except Exception as exc:  # the database is away: send; the result's write decides
            self._p.log.failure("fleet_claim_check_failed", exc, batch_id=claim.batch.id)
            return True
        if wanted.wanted:
            return True
        permit.abandon()
        self._p.log.event(
            "slide_dropped",
            batch_id=job.batch_id,
            details=_where(job, claim.slide.attempts) | {"cancelled": wanted.cancelled},
        )
        if wanted.finished is not None:
            await self.announce_end(wanted.finished)
        return False

    async def _call(self, request: ImageRequest) -> ImageResult:
        """One provider call bounded by ``LLM_TIMEOUT_SECONDS`` on the injected clock."""
        return await call_provider(
            self._p.provider, request, clock=self._p.clock, seconds=self._p.timeout, log=self._p.log
        )

    async def _after_failure(
        self, claim: Claim, job: Job, error: ProviderError, attempt: int
    ) -> None:
        retry = self._p.policy.after(job, error)
        if retry.next is None:
            await self._final_failure(claim, job, error, attempt)
            return
        if isinstance(error, QuotaExhausted):
            self._p.gate.park(self._p.clock.now() + retry.delay, str(error))
        self._p.metrics.retry(error.kind)
        again = retry.next
        stored = await self._p.store.waiting(
            claim,
            message=str(error),
            attempts=again.attempts,
            requeues=again.requeues,
            delay=retry.delay,
        )
        if not stored:
            self._fenced(job, attempt)
            return
        details = (
            _where(again, attempt) | _error_fields(error) | {"retry_in": round(retry.delay, 3)}
        )
        self._p.log.event("slide_retry", level="warning", batch_id=job.batch_id, details=details)
        await self._finish(claim)  # a cancelled batch's retry ends as cancelled

    async def _final_failure(
        self, claim: Claim, job: Job, error: ProviderError, attempt: int
    ) -> None:
        if self._p.placeholder is not None:
            stand_in = await asyncio.to_thread(self._p.placeholder, job.request, str(error))
            self._p.log.event(
                "slide_degraded",
                level="warning",
                batch_id=job.batch_id,
                details=_where(job, attempt) | _error_fields(error),
            )
            await self._store(claim, job, stand_in, attempt, error=str(error))
            return
        if not await self._p.store.failed(claim, message=str(error), at=self._p.wall()):
            self._fenced(job, attempt)
            return
        self._p.metrics.slide_finished("error", self._p.provider.name)
        self._p.log.event(
            "slide_failed",
            level="error",
            batch_id=job.batch_id,
            details=_where(job, attempt, "attempts") | _error_fields(error),
        )
        await self._finish(claim)

    async def _store(
        self, claim: Claim, job: Job, result: ImageResult, attempt: int, *, error: str = ""
    ) -> None:
        suffix = _SUFFIX_BY_MIME.get(result.mime_type, ".png")
        page = job.request.slide.page_num
        name = await asyncio.to_thread(
            partial(self._p.images.write, suffix=suffix, cost=result.cost),
            job.batch_id,
            job.slide_key,
            page,
            result.data,
        )
        values = DoneValues(
            name, result.latency_s, result.cost, result.placeholder, result.warnings, self._p.wall()
        )
        # A fenced-off image stays on disk (its name may be the winner's: same bytes, same
        # name); the batch's folder goes with the batch.
        if not await self._p.store.done(claim, values):
            self._fenced(job, attempt)
            return
        outcome = "placeholder" if result.placeholder else "done"
        self._p.metrics.slide_finished(outcome, self._p.provider.name, cost=result.cost)
        details = {
            "slide_id": job.request.slide.id,
            "generation_time": round(result.latency_s, 3),
            "provider": self._p.provider.name,
            "width": result.width,
            "height": result.height,
            "cost": result.cost,
            "placeholder": result.placeholder,
            "upstream_request_id": result.upstream_request_id,
            "warnings": list(result.warnings),
            **({"error": error} if error else {}),
        }
        details |= _where(job, attempt, "attempts")
        self._p.log.event("slide_completed", batch_id=job.batch_id, details=details)
        await self._finish(claim)

    def _fenced(self, job: Job, attempt: int) -> None:
        """Our lease was taken over (we were presumed dead) or the batch was deleted."""
        self._p.fleet_metrics.fenced()
        self._p.log.event(
            "slide_result_fenced",
            level="warning",
            batch_id=job.batch_id,
            details=_where(job, attempt),
        )

    async def _finish(self, claim: Claim) -> None:
        await self.finish(claim.batch.id)

    async def finish(self, batch_id: str) -> None:
        """End ``batch_id`` if nothing of it is pending or generating (logged once)."""
        finished = await self._p.store.finish_if_done(batch_id, at=self._p.wall())
        if finished is not None:
            await self.announce_end(finished)

    async def announce_end(self, finished: Finished) -> None:
        """Log the end of a batch this process finished (the pipeline log's summary)."""
        summary = completion_summary(finished.batch, finished.slides)
        self._p.log.event("batch_generate_complete", batch_id=finished.batch.id, summary=summary)


def _where(job: Job, attempt: int, key: str = "attempt") -> dict[str, Any]:
    return {"slide_key": job.slide_key, "page_num": job.request.slide.page_num, key: attempt}


def _error_fields(error: ProviderError) -> dict[str, Any]:
    return {"error_kind": error.kind, "status": error.status, "error": str(error)}
