"""A fleet worker: claim slides from PostgreSQL with leases, generate them, store them fenced.

The loop claims first and then waits for the gate's permit, holding the claim's lease: the
request leaves the moment the gate counts its start (a claim between the two would make the
upstream see arrivals later than the starts the gate recorded, and answer 429 at window
edges). At most ``_AHEAD`` claims per worker wait for a permit at once, so one gate round
starts several of them. A claim whose start is far (the gate's ``stats()`` puts its next
start, a 429 pause or a quota park more than ``RETURN_AHEAD_S`` away, the dispatcher's
threshold) stops waiting: its ``acquire`` is cancelled (a permit handed out meanwhile is
abandoned) and the claim is given back (``FleetStore.give_back``: pending again, the
attempt not counted, nothing sent), logged ``slide_returned``; the check runs when the
wait begins and then every ``RETURN_AHEAD_S`` of the clock. While the gate's next start is
far the loop claims nothing (it waits until the start is near, or a wake-up, and reads the
fleet gate's state again first: a ``gate clear`` ends a park early), so the same slides are
not claimed and given back in a loop. Once granted, a claim whose batch was
cancelled or deleted meanwhile sends nothing (``Attempt.run`` asks ``still_wanted`` first
and gives the permit back); one whose permit meets a park more than ``RETURN_AHEAD_S`` away
before it leaves (``rate_gate.far_park``, checked before ``confirm`` and every
``RETURN_AHEAD_S`` while it waits: another worker's park reaches a fleet gate only by its
next round) gives the permit back and the claim is given back as above, not held
'generating' in ``confirm`` until the park ends (a 429 pause is waited out there). Each
attempt runs as its own task.

Beside the loop, three chores keep the fleet whole:
- heartbeat, every third of ``FLEET_LEASE_SECONDS``: this worker's leases are extended (and
  its ``fleet_workers`` row touched); a worker that stops beating loses its slides when the
  leases end;
- reaper: expired leases (a killed worker's) go back to pending; any worker does it (a
  cancelled batch's end cancelled instead, and the batch ends, as ``leave`` does); the
  ``fleet_workers`` rows of workers silent for two leases are deleted;
- sweeper: admission (queued batches start when a place is free) and ending batches whose
  last result was stored by a worker that died before it could end them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from slidebatch.core.aspect import ImageSize
from slidebatch.core.cost import CostSource, UnitCost
from slidebatch.core.look import Look
from slidebatch.engine.looks import cover_image
from slidebatch.fleet.attempt import Attempt, AttemptParts
from slidebatch.fleet.notify import Listener
from slidebatch.fleet.pg_gate import PgGate
from slidebatch.fleet.store import WORK_CHANNEL, Claim, CostCapped, LeaseFigures
from slidebatch.providers.base import ImageRequest
from slidebatch.scheduler.clock import first_of, unless
from slidebatch.scheduler.dispatcher import RETURN_AHEAD_S
from slidebatch.scheduler.rate_gate import GatePermit, far_start
from slidebatch.scheduler.saves import Saves
from slidebatch.storage.errors import StorageUnavailable
from slidebatch.storage.repository import BatchRepository

_UNKNOWN = UnitCost(None, CostSource.UNKNOWN)
_AHEAD = 4  # claimed slides waiting for a gate permit at once in one worker


def _abandon_granted(acquiring: asyncio.Future[GatePermit]) -> None:
    """An ``acquire`` cancelled too late, with a permit: give its start back."""
    if not acquiring.cancelled() and acquiring.exception() is None:
        acquiring.result().abandon()


def worker_name() -> str:
    """``host:pid:random``: unique in the fleet, readable in logs and metrics."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


@dataclass(frozen=True, slots=True)
class Drained:
    """How a stopped worker ended, for ``slidebatch worker``'s last line: ``in_flight``
    requests were out at ``stop``, ``finished`` of them ended within the grace;
    ``released``: slides handed back to pending (or ended cancelled) by the drain's
    give-backs and ``leave``."""

    in_flight: int = 0
    finished: int = 0
    released: int = 0


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How a worker paces itself (seconds) and what it admits."""

    lease: float
    poll: float
    max_concurrent: int  # BATCH_MAX_CONCURRENT, for admission
    image_size: ImageSize


@dataclass(slots=True)
class LeaseHealth:
    """What ``/readyz`` says about a worker: its last heartbeat, leases held."""

    worker: str
    lease_seconds: float
    last_beat: float | None = None  # clock time of the last successful heartbeat
    leases: int = 0

    def healthy(self, now: float) -> bool:
        """Beating within a lease: its leases cannot have expired under it."""
        return self.last_beat is not None and now - self.last_beat < self.lease_seconds


class FleetWorker:
    """Claims and runs slides until stopped; one per ``slidebatch worker`` (or ``serve``)."""

    def __init__(
        self,
        *,
        name: str,
        parts: AttemptParts,
        repo: BatchRepository,
        config: WorkerConfig,
        dsn: str,
        unit_cost: Callable[[], Awaitable[UnitCost]] | None = None,
    ) -> None:
        self.name = name
        self._unit_cost = unit_cost  # the price of one image, for batches with a max_cost
        self._p = parts
        self._repo = repo
        self._config = config
        self._saves = Saves(parts.log, parts.clock)
        self._attempt = Attempt(parts, self._saves)
        self._wake = asyncio.Event()
        self._tasks: dict[asyncio.Task[None], Claim] = {}  # attempts, with their claims
        self._sending: set[asyncio.Task[None]] = set()  # attempts whose request left
        self._claiming: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()  # ``stop`` has drained: ``run`` may leave
        self._draining: asyncio.Task[None] | None = None  # ``stop``'s drain, once
        self.drained = Drained()  # filled by ``stop`` and ``run``'s end
        self._looks: dict[str, Look] = {}
        self._dry = True  # the last claim found nothing: look before asking the gate
        self._stalled: set[str] = set()  # stalled cancels the last sweep saw
        self.health = LeaseHealth(name, config.lease)
        self._listener = Listener(
            dsn, {WORK_CHANNEL: self._on_work}, parts.log, on_connect=self._on_connect
        )

    async def run(self) -> None:
        """Work until cancelled (after ``stop``, which lets the requests in flight finish);
        attempts still running are cancelled with it and their slides handed back
        (``leave``), but an image already received is stored first (its save is drained,
        within ``DRAIN_SECONDS``, before the leases are released)."""
        chores = [
            asyncio.create_task(self._listener.run(), name="fleet-listen"),
            asyncio.create_task(self._every(self._config.lease / 3, self.beat), name="beat"),
            asyncio.create_task(self._every(self._config.lease / 4, self._reap), name="reap"),
            asyncio.create_task(self._every(self._config.poll * 2, self._sweep), name="sweep"),
        ]
        self._p.log.event("fleet_worker_start", details={"worker": self.name})
        try:
            await self.beat()
            self._claiming = asyncio.create_task(self._loop(), name="fleet-claim")
            if self._stopped.is_set():  # stopped before it began
                self._claiming.cancel()
            await asyncio.wait({self._claiming})
            if not self._claiming.cancelled():
                self._claiming.result()  # the loop only ends by an error or a stop
            await self._stopped.wait()
        finally:
            if self._claiming is not None:
                self._claiming.cancel()
            for task in [*chores, *self._tasks]:
                task.cancel()
            await asyncio.gather(*chores, *self._tasks, return_exceptions=True)
            await self._saves.drain(self.name)
            with contextlib.suppress(Exception):
                released = await self._p.store.leave(self.name, at=self._p.wall())
                gone = len(released.slides) + len(released.cancelled)
                gone += self.drained.released  # given back by the drain
                self.drained = dataclasses.replace(self.drained, released=gone)
                self._p.log.event(
                    "fleet_worker_stop",
                    details={
                        "worker": self.name,
                        "released": len(released.slides),
                        "cancelled": len(released.cancelled),
                    },
                )
                for finished in released.finished:
                    await self._attempt.announce_end(finished)

    async def stop(self, grace: float) -> None:
        """Stop as SIGTERM asks: claim nothing more, give back the claims still waiting
        for the gate, and let the requests in flight finish (the upstream bills them
        whether or not anyone waits) for at most ``grace`` seconds, so their images and
        costs are stored. ``run`` then leaves the fleet (what is still running after
        ``grace`` is cancelled and handed back as before).

        A second call waits for the same drain. The drain is a task of its own: a caller
        cancelled while it waits (the owner watch, cancelled at shutdown while the worker
        drains after a lost owner lock) does not cancel the requests in flight."""
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(grace), name="fleet-drain")
        await asyncio.shield(self._draining)

    async def _drain(self, grace: float) -> None:
        """Give back the claims not sent, now: held until ``leave``, they stayed
        'generating' under this worker's lease (renewed by its heartbeat) while its
        requests in flight ran, up to ``grace``, and no other worker could claim them (a
        restart's new workers found nothing to claim). Then wait for those requests."""
        ends = self._p.clock.now() + grace
        if self._claiming is not None:
            self._claiming.cancel()
        waiting = {task: claim for task, claim in self._tasks.items() if task not in self._sending}
        for task in waiting:
            task.cancel()  # not sent: its permit goes back to the gate
        sending = list(self._sending)
        self._p.log.event(
            "fleet_worker_draining",
            details={"worker": self.name, "in_flight": len(sending), "grace": grace},
        )
        await asyncio.gather(*waiting, return_exceptions=True)
        released = 0
        for claim in waiting.values():  # not given back here (database away): ``leave``
            released += await self._give_back(claim) or 0
        if sending:
            gathered = asyncio.gather(*sending, return_exceptions=True)
            await first_of(gathered, self._p.clock.sleep(ends - self._p.clock.now()))
        finished = sum(1 for task in sending if task.done())
        self.drained = Drained(in_flight=len(sending), finished=finished, released=released)
        self._stopped.set()

    async def _loop(self) -> None:
        ahead = asyncio.Semaphore(_AHEAD)
        while True:
            self._wake.clear()
            far = await self._start_far_read_again()
            if far is not None:  # claimed now, it would only be given back
                delay = far - RETURN_AHEAD_S - self._p.clock.now()
                await first_of(self._wake.wait(), self._p.clock.sleep(delay))
                continue
            if self._dry and not await self._safe_claimable():
                idle = await self._idle()  # before the wait's coroutine exists
                await first_of(self._wake.wait(), self._p.clock.sleep(idle))
                continue
            self._dry = False
            await ahead.acquire()
            if self._start_far() is not None:  # went far while every slot was taken
                ahead.release()
                continue
            try:
                claim = await self._safe_claim()
            except BaseException:
                ahead.release()
                raise
            if claim is None:  # nothing left, or another worker took it
                ahead.release()
                self._dry = True
                continue
            if isinstance(claim, CostCapped):
                ahead.release()
                await self._capped(claim)
                continue
            self._p.fleet_metrics.claimed()
            self._spawn(claim, self._permit_and_run(claim, ahead))

    async def _permit_and_run(self, claim: Claim, ahead: asyncio.Semaphore) -> None:
        """Wait for the gate holding ``claim`` (the request is built first), then send it.

        Cancelled while waiting (the worker stops): the drain gives the claim back.
        Its start far (``_permit``): given back, nothing sent. A park that came between the
        permit and the send (``Attempt.run`` gives the permit back, nothing sent): the
        claim goes back the same way (``_permit`` sees the park far and gives it back).
        """
        try:
            request = await self._request(claim)
            permit = await self._permit(claim)
        finally:
            ahead.release()
        while permit is not None:
            with self._sending_now():
                if await self._attempt.run(claim, request, permit):
                    return
            permit = await self._permit(claim)

    @contextlib.contextmanager
    def _sending_now(self) -> Iterator[None]:
        """The current task, for the block, as one whose request may have left: a stop lets
        it finish within its grace. Outside it a stop cancels the task and ``leave`` hands
        its claim back."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._sending.add(task)
        try:
            yield
        finally:
            self._sending.discard(task)

    async def _permit(self, claim: Claim) -> GatePermit | None:
        """The gate's permit for ``claim``; None: its start was far, the claim was given
        back. A give-back that fails (the database away) keeps waiting and tries again a
        ``RETURN_AHEAD_S`` later."""
        patient = False
        while True:
            acquiring = await self._acquire_unless_far(patient)
            if acquiring is not None and not acquiring.cancelled():
                return acquiring.result()
            if await self._give_back(claim) is not None:
                return None
            patient = True

    async def _acquire_unless_far(self, patient: bool) -> asyncio.Future[GatePermit] | None:
        """Wait for a permit while the gate's start is near, checking every
        ``RETURN_AHEAD_S`` (at once unless ``patient``). Returns the finished ``acquire``
        (cancelled: the start went far; a permit handed out meanwhile is abandoned by its
        cancellation), or None if it was far before the wait began."""
        if not patient and self._start_far() is not None:
            return None
        return await unless(
            self._p.gate.acquire(),
            lambda: self._start_far() is not None,
            clock=self._p.clock,
            every=RETURN_AHEAD_S,
            left=_abandon_granted,
        )

    def _start_far(self) -> float | None:
        """When the gate's next start, pause or park ends (clock time), if more than
        ``RETURN_AHEAD_S`` from now; None: near (or nothing known)."""
        return far_start(self._p.gate.stats(), self._p.clock.now(), within=RETURN_AHEAD_S)

    async def _start_far_read_again(self) -> float | None:
        """``_start_far``, with the fleet gate's figures read again from the database when
        they say far: a ``gate clear`` lifts a park there (and wakes the workers), but a
        gate's snapshot shows it only after its next round, which a loop that claims
        nothing never makes."""
        if self._start_far() is None:
            return None
        if isinstance(self._p.gate, PgGate):
            # The database away: the snapshot as it is (the gate refreshes it on its own).
            with contextlib.suppress(StorageUnavailable):
                await self._p.gate.refresh()
        return self._start_far()

    async def _give_back(self, claim: Claim) -> int | None:
        """Put ``claim`` back to pending, its attempt not counted (nothing was sent); the
        store announces it (NOTIFY, as ``leave``). Returns how many slides went back or
        ended cancelled (0: claimed again meanwhile); None: the database could not be asked."""
        try:
            released = await self._p.store.give_back(claim, self.name, at=self._p.wall())
        except Exception as exc:
            self._p.log.failure("fleet_give_back_failed", exc, batch_id=claim.batch.id)
            return None
        where = {"slide_key": claim.slide.key, "page_num": claim.slide.slide.page_num}
        details = where | {"attempt": claim.slide.attempts, "worker": self.name}
        if released.cancelled:
            dropped = details | {"cancelled": True}  # its batch is being cancelled
            self._p.log.event("slide_dropped", batch_id=claim.batch.id, details=dropped)
        elif released.slides:
            self._p.log.event("slide_returned", batch_id=claim.batch.id, details=details)
        for finished in released.finished:
            await self._attempt.announce_end(finished)
        return len(released.slides) + len(released.cancelled)

    def _spawn(self, claim: Claim, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks[task] = claim
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    async def _idle(self) -> float:
        """How long to sleep with no work: until a retry is due, at most one poll."""
        try:
            due = await self._p.store.next_due_in()
        except Exception:  # told by _safe_claimable already
            return self._config.poll
        return self._config.poll if due is None else min(self._config.poll, due + 0.005)

    async def _safe_claimable(self) -> bool:
        try:
            return await self._p.store.claimable()
        except Exception as exc:  # the database is away: look again after a poll
            self._p.log.failure("fleet_claim_failed", exc)
            return False

    async def _safe_claim(self) -> Claim | CostCapped | None:
        try:
            unit = _UNKNOWN if self._unit_cost is None else await self._unit_cost()
            return await self._p.store.claim(
                self.name, lease=self._config.lease, at=self._p.wall(), unit=unit
            )
        except Exception as exc:
            self._p.log.failure("fleet_claim_failed", exc)
            return None

    async def _capped(self, capped: CostCapped) -> None:
        """A claim cancelled a batch at its ``max_cost`` (logged as the cost guard does);
        with nothing in flight it ends now."""
        self._p.log.event(
            "batch_max_cost_reached",
            batch_id=capped.batch_id,
            details={
                "max_cost": capped.max_cost,
                "spent": capped.spent,
                "in_flight": capped.in_flight,
                "unit_cost": capped.unit_cost,
                "dropped": capped.cancelled,
                "worker": self.name,
            },
        )
        try:
            await self._attempt.finish(capped.batch_id)
        except Exception as exc:  # the sweep ends it
            self._p.log.failure("fleet_finish_failed", exc, batch_id=capped.batch_id)

    async def _request(self, claim: Claim) -> ImageRequest:
        batch = claim.batch
        look = self._looks.get(batch.id)
        if look is None:
            look = await self._repo.get_look(batch.id)
            self._looks[batch.id] = look
        return ImageRequest(
            prompt=claim.slide.final_prompt,
            slide=claim.slide.slide,
            style_prompt=batch.style_prompt,
            aspect_ratio=batch.aspect_ratio,
            image_size=self._config.image_size,
            reference_images=look.images + await self._cover(claim, look),
        )

    async def _cover(self, claim: Claim, look: Look) -> tuple[bytes, ...]:
        """Anchor mode: the anchoring slide's image, for every other slide (claims hold
        those back until it has ended; one that failed leaves them without it)."""
        key = look.anchor_key
        if key is None or key == claim.slide.key:
            return ()
        anchor = await self._repo.get_slide(claim.batch.id, key)
        cover = await cover_image(self._p.images, claim.batch.id, anchor)
        return () if cover is None else (cover,)

    # --- chores ---

    async def _every(self, seconds: float, chore: Callable[[], object]) -> None:
        while True:
            await self._p.clock.sleep(seconds)
            try:
                result = chore()
                if asyncio.iscoroutine(result):
                    await result
            except Exception as exc:  # a chore fails while the database is away; next round
                self._p.log.failure("fleet_chore_failed", exc, worker=self.name)

    async def beat(self) -> None:
        """Store a heartbeat now: this worker's leases run one more lease time."""
        held = await self._p.store.heartbeat(
            self.name, lease=self._config.lease, host=socket.gethostname(), pid=os.getpid()
        )
        self.health.last_beat = self._p.clock.now()
        self.health.leases = held

    async def _reap(self) -> None:
        # Two leases without a beat: its leases have expired, it is gone for good.
        gone = await self._p.store.prune_workers(silent_for=2 * self._config.lease)
        if gone:
            self._p.log.event("fleet_workers_pruned", details={"workers": gone})
        reaped = await self._p.store.reap(at=self._p.wall())
        if reaped.slides:
            self._p.fleet_metrics.reaped(len(reaped.slides))
            batches = sorted({b for b, _ in reaped.slides})
            details = {"worker": self.name, "slides": len(reaped.slides), "batches": batches}
            details["cancelled"] = len(reaped.cancelled)
            self._p.log.event("fleet_leases_expired", level="warning", details=details)
            self._wake.set()
        for finished in reaped.finished:  # a cancelled batch's last claims expired
            await self._attempt.announce_end(finished)

    async def _sweep(self) -> None:
        wall = self._p.wall()
        for batch_id in await self._p.store.ended_batches():
            finished = await self._p.store.finish_if_done(batch_id, at=wall)
            if finished is not None:
                await self._attempt.announce_end(finished)
        await self._end_stalled_cancels()
        await self.admit()
        if len(self._looks) > 256:  # looks of batches long ended; re-read on the next claim
            self._looks.clear()

    async def _end_stalled_cancels(self) -> None:
        """Cancel again the batches left running with pending slides by a cancel (seen by
        two sweeps in a row: not a retry between its two writes); they end if no claim is
        held. Such batches held a place for ever."""
        stalled = set(await self._p.store.stalled_cancels())
        for batch_id in sorted(stalled & self._stalled):
            cancelled = await self._p.store.cancel(batch_id, at=self._p.wall())
            if cancelled is None:
                continue
            details = {"dropped": len(cancelled.dropped), "worker": self.name}
            self._p.log.event(
                "fleet_cancel_stalled", level="warning", batch_id=batch_id, details=details
            )
            if cancelled.finished is not None:
                await self._attempt.announce_end(cancelled.finished)
        self._stalled = stalled

    async def admit(self) -> None:
        """Start queued batches while places are free (logged once, by whoever starts them)."""
        for batch in await self._p.store.admit(self._config.max_concurrent, at=self._p.wall()):
            self._p.log.event(
                "batch_generate_start",
                batch_id=batch.id,
                details={"total_slides": batch.total_slides, "worker": self.name},
            )
            self._wake.set()

    def sample(self, _metrics: object = None) -> None:
        """Refresh the lease gauges (a ``/metrics`` sampler)."""
        last = self.health.last_beat
        age = 0.0 if last is None else self._p.clock.now() - last
        self._p.fleet_metrics.set_leases(self.health.leases, age)

    async def lease_figures(self) -> LeaseFigures:
        """This worker's leases as the database sees them."""
        return await self._p.store.lease_figures(self.name)

    def _on_work(self, _payload: str) -> None:
        self._wake.set()

    async def _on_connect(self) -> None:
        self._wake.set()
