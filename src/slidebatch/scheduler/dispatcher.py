"""The dispatch loop: fair queue -> gate -> one task per attempt -> listener.

The loop waits until some batch has a job it may start, then for the gate's permit, and
only then picks the job (so a batch that arrived while the loop waited on the window gets
its turn). Each attempt runs as its own task; the loop never waits on a slide. Failures go
through ``RetryPolicy.after``: a retry waits in the fair queue's backoff heap (no slot held),
anything else is reported as failed. Nothing a provider or a listener raises can stop the
loop.

Starting ahead: 'generating' must be stored before a request leaves (a crash after the
upstream was paid must find the slide generating), and when the in-flight cap binds, a
permit that waited for that write wasted its slot for as long (tens of ms per slide under
load). So while every slot is busy and nothing but the cap holds the next start, up to
``start_ahead`` jobs are picked in rotation ahead of their permit and their 'generating'
stored; a permit goes to the first of them and the request leaves at once. One whose batch
was cancelled or held meanwhile sends nothing: the start is un-counted and ``on_dropped``
is its final report. A window, a pause or a park starts nothing ahead (the slides would
show 'generating' long before their requests). When their send stops being imminent (the
dispatcher is held, or a pause, a park or the window puts the gate's next start more than
``RETURN_AHEAD_S`` away), the jobs started ahead are given back: ``on_returned`` stores
each slide pending again, its attempt not counted (nothing was sent or paid), and the job
goes back to the front of its batch, to start (``on_started`` again, same attempt) when
the gate reopens; a batch cancelled or held meanwhile drops it instead.

Deadline: ``attempt_timeout`` (``LLM_TIMEOUT_SECONDS``) bounds each attempt here, on the
injected clock, and only here; when it fires the attempt is a ``TransientProviderError``
(overload) like any other, so the user always sees the same message for a slow upstream.

The wait after a 429 has two owners with different scopes. The *gate* owns the credential:
the permit's ``failure`` pauses every start for ``Retry-After`` (capped) and teaches the rate
controller. The *retry delay* owns only this job: full-jitter backoff, never shorter than
``Retry-After``, spent in the backoff heap, so it orders the job's return and delays no other
job. A 429 costs a requeue, not a paid attempt (``RetryPolicy.after``).

Listener order, per job: ``on_started`` for each attempt, then either ``on_retry`` (called
before the job can be dispatched again, so the engine sees events in order) or one final
``on_succeeded`` / ``on_failed`` (``on_dropped`` for a start ahead never sent). A start
ahead given back reports ``on_returned`` and later starts again. When a final hook runs,
``outstanding(batch_id)`` no longer counts that job, so the engine may close the batch when
it reaches zero.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slidebatch.errors import ProviderError, QuotaExhausted
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.providers.base import ImageProvider, ImageRequest, ImageResult
from slidebatch.scheduler.clock import Clock, first_of
from slidebatch.scheduler.deadline import call_provider
from slidebatch.scheduler.fair_queue import BatchQueueStats, FairQueue, StartGate
from slidebatch.scheduler.job import Job
from slidebatch.scheduler.phases import AttemptPhase, PhaseObserver, ignore_phase
from slidebatch.scheduler.rate_gate import (
    GatePermit,
    GateStats,
    RateGate,
    far_park,
    far_start,
)
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.scheduler.saves import DRAIN_SECONDS, Saves

# Quota answers this close to the current park's end extend it silently: the same news.
_SAME_PARK_S = 60.0
# Jobs started ahead (their 'generating' stored) waiting for a slot at most: at 32 slots of
# half a second a slot frees every ~15 ms, and under load the write takes a few of those.
START_AHEAD = 4
_NOW_S = 0.001  # a next start this close is now
# Jobs started ahead are given back (pending again) when the gate's next start is further
# off than this. Starting ahead hides one 'generating' write (tens of ms, a few hundred
# under load); a second's wait is several such writes, so storing it again when the gate
# reopens hides as much, while a slide shown 'generating' seconds to hours (a pause, a park)
# with nothing sent tells the user something false. Shorter waits (a slot or the window
# about to free) keep them: a return and a restart would be two writes to hide one.
RETURN_AHEAD_S = 1.0

__all__ = ["RETURN_AHEAD_S", "Dispatcher", "DispatcherStats", "Job", "JobListener"]


class StartRefused(Exception):
    """Raised by a listener's ``on_started``: send nothing for this job, report nothing more
    (its batch has ended without it, e.g. its database was lost)."""


class JobListener(Protocol):
    """What the engine hears about each job; it persists and publishes events."""

    async def on_started(self, job: Job, attempt: int) -> None:
        """The attempt starts (``StartRefused``: it must not, and the job is dropped)."""

    async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None: ...

    async def on_retry(self, job: Job, error: ProviderError, delay: float, attempt: int) -> None:
        """Attempt ``attempt`` failed; ``job`` (its budgets charged) runs again after ``delay``."""

    async def on_failed(self, job: Job, error: ProviderError, attempt: int) -> None: ...

    async def on_dropped(self, job: Job, attempt: int) -> None:
        """Attempt ``attempt`` was started ahead (``on_started`` ran) but its batch was
        cancelled or held before it could be sent: nothing was sent or paid; this is the
        job's final report."""

    async def on_returned(self, job: Job, attempt: int) -> None:
        """Attempt ``attempt`` was started ahead (``on_started`` ran) but will not be sent
        soon (the dispatcher is held, or the gate paused or parked): nothing was sent or
        paid, the slide is pending again with ``attempt`` not counted. Not final: the job
        is queued again and its next start reports ``on_started`` with the same attempt."""


@dataclass(frozen=True, slots=True)
class DispatcherStats:
    """The gate's figures and each batch's share."""

    gate: GateStats
    batches: tuple[BatchQueueStats, ...]
    queued_total: int
    running_total: int


class Dispatcher:
    """Runs jobs of every batch through one gate, fairly, with retries."""

    def __init__(
        self,
        provider: ImageProvider,
        gate: RateGate,
        policy: RetryPolicy,
        *,
        clock: Clock,
        attempt_timeout: float,
        log: EventLog,
        drain_seconds: float = DRAIN_SECONDS,
        observe: PhaseObserver = ignore_phase,
        start_ahead: int = START_AHEAD,
    ) -> None:
        self._provider = provider
        self._observe = observe  # each attempt's phases (``phases.py``), for /metrics
        self._gate = gate
        self._policy = policy
        self._log = log
        self._clock = clock
        self._timeout = attempt_timeout
        self._queue = FairQueue()
        self._wake = asyncio.Event()  # the loop: work arrived or a slot freed
        self._changed = asyncio.Event()  # drain(): anything ended
        self._tasks: set[asyncio.Task[None]] = set()
        self._saves = Saves(log, clock, deadline=drain_seconds)  # results in hand, being stored
        self._held = False  # hold(): no new attempt starts; those in flight go on
        self._ahead = start_ahead
        self._ready: deque[tuple[Job, int]] = deque()  # started ahead: (job, attempt)
        self._preparing = 0  # started ahead, 'generating' being stored
        self._listener: JobListener | None = None  # run()'s, for hold()'s give-back

    # --- the engine's side ---

    def add_jobs(self, batch_id: str, jobs: Sequence[Job], *, cap: int | None) -> None:
        """Queue jobs of a new or known batch; ``cap`` is its ``max_workers`` (None: auto)."""
        self._queue.add(batch_id, jobs, cap=cap)
        self._poke()

    def cancel_batch(self, batch_id: str) -> list[Job]:
        """Drop the batch's queued and backing-off jobs (returned); running ones finish."""
        dropped = self._queue.cancel(batch_id)
        self._poke()
        return dropped

    def hold_batch(self, batch_id: str) -> None:
        """Start no job of ``batch_id`` from now on (those running finish) until
        ``cancel_batch`` drops them: synchronous, so nothing starts between a decision to stop
        the batch and its cancel."""
        self._queue.hold(batch_id)

    def gate_batch(
        self, batch_id: str, gate: StartGate | None, *, unless_set: bool = False
    ) -> None:
        """Start a job of ``batch_id`` only when ``gate(running)`` allows it (None: remove
        the gate); synchronous, like ``hold_batch``. A gated batch's paid job keeps its slot
        until its success is recorded, so the gate counts it until its cost is known
        (``max_cost``). ``unless_set``: keep a gate already set."""
        self._queue.gate(batch_id, gate, unless_set=unless_set)
        self._poke()

    def poke(self) -> None:
        """Look again at what may start (a gate's answer changed)."""
        self._poke()

    def outstanding(self, batch_id: str) -> int:
        """Queued + backing off + running jobs of ``batch_id``."""
        return self._queue.outstanding(batch_id)

    def queued_total(self) -> int:
        """Jobs waiting for a slot over all batches (backing-off ones included)."""
        return self._queue.queued_total()

    def stats(self) -> DispatcherStats:
        """Gate figures plus per-batch queued/running counts."""
        return DispatcherStats(
            gate=self._gate.stats(),
            batches=self._queue.stats(),
            queued_total=self._queue.queued_total(),
            running_total=self._queue.running_total(),
        )

    def hold(self) -> None:
        """Start no new attempt from now on (a CLI's first Ctrl-C); those in flight go on.

        Queued and backing-off jobs stay where they are: their slides stay pending and run
        at the next start. Jobs started ahead are given back (``on_returned``: their slides
        pending again, unpaid); ``settle`` waits for those writes too.
        """
        self._held = True
        self._check_ahead()
        self._poke()

    def in_flight(self) -> int:
        """Attempts started and not yet ended (their report included)."""
        return len(self._tasks)

    async def settle(self) -> None:
        """Wait until no attempt is in flight: each has come back and its report (the image
        stored, its cost) has run. With ``hold``, what was paid for is then all recorded."""
        while self._tasks:
            self._changed.clear()
            await self._changed.wait()

    async def drain(self) -> None:
        """Wait until nothing is outstanding and every listener call has returned."""
        while self._queue.queued_total() or self._queue.running_total() or self._tasks:
            self._changed.clear()
            await self._changed.wait()

    # --- the loop ---

    async def run(self, listener: JobListener) -> None:
        """Dispatch until cancelled, telling ``listener``; cancelling also cancels attempts.

        An attempt whose image has come back is stored all the same: the success report runs
        as a save (``scheduler/saves.py``) that the stop waits for, within its deadline.
        """
        self._listener = listener
        try:
            while True:
                self._wake.clear()
                self._queue.promote(self._clock.now())
                if self._held:
                    await self._wake.wait()
                    continue
                if not self._ready and not self._queue.has_ready():
                    await self._wait_for_work()
                    continue
                permit = await self._gate.acquire()
                acquired = self._clock.now()
                self._queue.promote(acquired)
                self._start(permit, listener, acquired)
                self._check_ahead()  # that start may have filled the window
                self._start_ahead(listener)
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._saves.drain("dispatcher")

    def _start(self, permit: GatePermit, listener: JobListener, acquired: float) -> None:
        """Give ``permit`` to the first job started ahead, else to the next in rotation."""
        if self._held:  # held while we waited for the gate
            permit.abandon()
            return
        if self._ready:
            ahead, attempt = self._ready.popleft()
            self._spawn(self._send_ahead(ahead, attempt, permit, listener, acquired))
            return
        job = self._queue.pop()
        if job is None:  # cancelled while we waited for the gate
            permit.abandon()
            return
        self._spawn(self._attempt(job, permit, listener, acquired))

    def _start_ahead(self, listener: JobListener) -> None:
        """Store 'generating' for the next jobs while every slot is busy, so that a slot
        that frees sends at once instead of waiting for that write.

        Only while the gate would start one now but for its in-flight cap: a window, a
        pause or a park would leave the slides 'generating' long before their requests,
        and with a slot free the next permit comes at once anyway.
        """
        if self._held or len(self._ready) + self._preparing >= self._ahead:
            return
        stats = self._gate.stats()
        if stats.in_flight < stats.in_flight_cap:
            return  # the next permit comes at once (or the window holds it): nothing to hide
        if stats.next_start is not None and stats.next_start > self._clock.now() + _NOW_S:
            return
        # Never more ahead than in flight: a cap of one frees one slot at a time.
        while len(self._ready) + self._preparing < min(self._ahead, stats.in_flight_cap):
            job = self._queue.pop()
            if job is None:
                return
            self._preparing += 1
            self._spawn(self._prepare(job, listener))

    def _check_ahead(self) -> None:
        """Give back the jobs started ahead when their send is not imminent: the dispatcher
        is held, or the gate's next start (a pause, a park, the window) is more than
        ``RETURN_AHEAD_S`` away. Called where that can change: a hold, a start, an outcome,
        a job becoming ready."""
        if not self._ready or self._listener is None:
            return
        far = far_start(self._gate.stats(), self._clock.now(), within=RETURN_AHEAD_S)
        if self._held or far is not None:
            returned = list(self._ready)
            self._ready.clear()
            self._spawn(self._give_back(returned, self._listener))

    def _parked_far(self) -> bool:
        """Whether a park (a spent quota) keeps every start more than ``RETURN_AHEAD_S`` away."""
        return far_park(self._gate.stats(), self._clock.now(), within=RETURN_AHEAD_S) is not None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    async def _wait_for_work(self) -> None:
        due = self._queue.next_due()
        if due is None:
            await self._wake.wait()
            return
        await first_of(self._wake.wait(), self._clock.sleep(due - self._clock.now()))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._poke()

    def _poke(self) -> None:
        self._wake.set()
        self._changed.set()

    # --- one attempt ---

    def _phase(self, phase: AttemptPhase, since: float) -> float:
        """Tell the observer ``phase`` lasted from ``since`` until now; return now."""
        now = self._clock.now()
        try:
            self._observe(phase, now - since)
        except Exception as exc:  # a figure must never cost a slide
            self._log.failure("scheduler_observer_failed", exc, phase=str(phase))
        return now

    async def _prepare(self, job: Job, listener: JobListener) -> None:
        """A job started ahead: 'generating' is stored, then it waits for a permit."""
        attempt = job.attempts + 1
        try:
            await self._safely(job, "on_started", listener.on_started(job, attempt))
        except StartRefused:
            self._queue.finish(job.batch_id)
        else:
            self._ready.append((job, attempt))
            self._check_ahead()  # held, paused or parked while 'generating' was stored
        finally:
            self._preparing -= 1
            self._poke()

    async def _give_back(self, returned: list[tuple[Job, int]], listener: JobListener) -> None:
        """Jobs started ahead whose send is not imminent: each slide is stored pending
        again (``on_returned``), then the jobs go back to the front of their batches in the
        order they were started. One whose batch was cancelled or held sends nothing, as in
        ``_send_ahead``: ``on_dropped`` is its final report."""
        returning = [(job, attempt) for job, attempt in returned if self._wanted(job)]
        await asyncio.gather(
            *(
                self._safely(job, "on_returned", listener.on_returned(job, attempt))
                for job, attempt in returning
            )
        )
        back = [job for job, _ in returning if self._wanted(job)]
        self._queue.put_back(back)
        self._poke()
        for job, attempt in returned:
            if not any(job is kept for kept in back):
                await self._drop(job, attempt, listener)

    def _wanted(self, job: Job) -> bool:
        """Whether ``job``'s batch may still start it (neither cancelled nor held)."""
        return not (self._queue.cancelled(job.batch_id) or self._queue.held(job.batch_id))

    async def _drop(self, job: Job, attempt: int, listener: JobListener) -> None:
        """A job started ahead of a batch cancelled or held: nothing is sent; final report."""
        self._queue.finish(job.batch_id)
        self._poke()
        await self._safely(job, "on_dropped", listener.on_dropped(job, attempt))

    async def _send_ahead(
        self, job: Job, attempt: int, permit: GatePermit, listener: JobListener, acquired: float
    ) -> None:
        """Send a job started ahead, unless its batch was cancelled or held while it waited:
        then nothing is sent, the start is un-counted and the slide is dropped."""
        if not self._wanted(job):
            permit.abandon()
            await self._drop(job, attempt, listener)
            return
        await self._send(job, attempt, permit, listener, acquired)

    async def _attempt(
        self, job: Job, permit: GatePermit, listener: JobListener, acquired: float
    ) -> None:
        attempt = job.attempts + 1
        # 'generating' is stored before the request leaves: a crash after the upstream was
        # paid must find the slide generating (and its image on disk) on restart.
        try:
            await self._safely(job, "on_started", listener.on_started(job, attempt))
        except StartRefused:
            permit.release()
            self._queue.finish(job.batch_id)
            self._poke()
            return
        await self._send(job, attempt, permit, listener, acquired)

    async def _send(
        self, job: Job, attempt: int, permit: GatePermit, listener: JobListener, acquired: float
    ) -> None:
        """The request of a started attempt leaves now; its outcome is reported."""
        # Counted from now: the upstream's window counts the request when it arrives, and
        # under load that write takes long enough to put the next window's burst over its edge.
        # A 429 that came during it (another attempt's) holds this one rather than meet it;
        # a batch cancelled or held while it waited out that pause sends nothing.
        if self._parked_far():
            # A park came since the permit: ``confirm`` would hold the request until the quota
            # resets (hours) with its slide shown 'generating'. Give it back (pending, unpaid)
            # like a start ahead; a pause (capped, seconds) is waited out in ``confirm``.
            permit.abandon()
            await self._give_back([(job, attempt)], listener)
            return
        await permit.confirm()
        if not self._wanted(job):
            permit.abandon()
            await self._drop(job, attempt, listener)
            return
        sent = self._phase(AttemptPhase.STARTING, acquired)
        try:
            result = await self._call(job.request)
        except ProviderError as error:
            self._phase(AttemptPhase.UPSTREAM, sent)
            permit.failure(error)
            await self._after_failure(job, error, attempt, listener)
        except asyncio.CancelledError:
            permit.release()
            raise
        else:
            answered = self._phase(AttemptPhase.UPSTREAM, sent)
            permit.success(result.rate_limit)
            self._check_ahead()  # the upstream's figures may have paused the gate
            # A gated batch (max_cost) counts the image as running until its cost is stored.
            held = self._queue.gated(job.batch_id)
            if not held:
                self._queue.finish(job.batch_id)
                self._poke()
            # Paid for: the report (the image stored) is a save, not cancelled with the attempt.
            hook = listener.on_succeeded(job, result, attempt)
            try:
                await self._saves.run(self._safely(job, "on_succeeded", hook))
                self._phase(AttemptPhase.REPORTING, answered)
            finally:
                if held:
                    self._queue.finish(job.batch_id)
                    self._poke()

    async def _after_failure(
        self, job: Job, error: ProviderError, attempt: int, listener: JobListener
    ) -> None:
        retry = self._policy.after(job, error)
        if isinstance(error, QuotaExhausted) and retry.next is not None:
            self._park(error, retry.delay)
        self._check_ahead()  # a 429's pause or a park: those started ahead go back
        if retry.next is not None and not self._queue.cancelled(job.batch_id):
            # Told before the job can run again, so the engine never sees events out of order.
            hook = listener.on_retry(retry.next, error, retry.delay, attempt)
            await self._safely(job, "on_retry", hook)
            if self._queue.finish_and_defer(retry.next, self._clock.now() + retry.delay):
                self._poke()
                return
        else:
            self._queue.finish(job.batch_id)
        self._poke()
        await self._safely(job, "on_failed", listener.on_failed(retry.spent, error, attempt))

    def _park(self, error: QuotaExhausted, seconds: float) -> None:
        """Stop every start on the credential until its quota resets; say so once per park."""
        now = self._clock.now()
        parked = self._gate.stats().parked_until
        if parked is None or parked < now + seconds - _SAME_PARK_S:
            self._log.event(
                "upstream_quota_exhausted",
                level="warning",
                details={
                    "provider": self._provider.name,
                    "error_kind": error.kind,
                    "reset_at": error.reset_at,
                    "parked_for": round(seconds, 3),
                    "error": str(error),
                },
            )
        self._gate.park(now + seconds, str(error))

    async def _call(self, request: ImageRequest) -> ImageResult:
        return await call_provider(
            self._provider, request, clock=self._clock, seconds=self._timeout, log=self._log
        )

    async def _safely(self, job: Job, hook: str, call: Awaitable[None]) -> None:
        try:
            await call
        except StartRefused:
            raise
        except Exception as exc:
            self._log.failure(
                "scheduler_listener_failed",
                exc,
                batch_id=job.batch_id,
                slide_key=job.slide_key,
                hook=hook,
            )
