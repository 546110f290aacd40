"""Who goes next: round-robin between batches, retries first within a batch.

Each start goes to the next batch in rotation that has a ready job and is below its cap
(``max_workers``; ``None`` is no per-batch cap beyond the gate). Taking turns per start is
what lets a 3-slide batch that arrives behind a 50-slide batch finish after about six
starts instead of fifty, and it is also the "chunking" of large decks: a big batch simply
gets one turn in every round. Jobs backing off hold no slot: they sit in a heap by due time
and re-enter at the front of their batch when the time comes. A batch leaves memory as soon
as nothing of it is queued, backing off or running.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from slidebatch.scheduler.job import Job

# Whether a batch may start one more job with this many of its jobs running.
StartGate = Callable[[int], bool]


@dataclass(frozen=True, slots=True)
class BatchQueueStats:
    """One batch's share of the dispatcher."""

    batch_id: str
    queued: int
    backing_off: int
    running: int
    cap: int | None


@dataclass(slots=True)
class _Batch:
    cap: int | None
    fresh: deque[Job] = field(default_factory=deque)
    retries: deque[Job] = field(default_factory=deque)
    backing_off: int = 0
    running: int = 0
    cancelled: bool = False
    held: bool = False  # hold(): nothing of it starts until its cancel drops what is queued

    def ready(self, gate: StartGate | None = None) -> bool:
        below_cap = self.cap is None or self.running < self.cap
        waiting = not self.held and bool(self.retries or self.fresh)
        return below_cap and waiting and (gate is None or gate(self.running))

    def empty(self) -> bool:
        return not (self.fresh or self.retries or self.backing_off or self.running)


@dataclass(order=True, slots=True)
class _Waiting:
    due: float
    seq: int
    job: Job = field(compare=False)


class FairQueue:
    """Per-batch queues served in rotation."""

    def __init__(self) -> None:
        self._batches: dict[str, _Batch] = {}
        self._order: deque[str] = deque()
        self._backoff: list[_Waiting] = []
        self._seq = itertools.count()
        # gate(): whether a batch may start one more with so many running (``max_cost``),
        # kept while the batch comes and goes from memory, until removed.
        self._gates: dict[str, StartGate] = {}

    def add(self, batch_id: str, jobs: Sequence[Job], *, cap: int | None) -> None:
        """Queue ``jobs`` for ``batch_id`` (new or known; the latest cap applies)."""
        if cap is not None and cap < 1:
            raise ValueError("cap must be at least 1")
        batch = self._batches.get(batch_id)
        if batch is None:
            batch = _Batch(cap=cap)
            self._batches[batch_id] = batch
            self._order.append(batch_id)
        batch.cap = cap
        batch.cancelled = False
        batch.fresh.extend(jobs)
        self._drop_if_empty(batch_id)

    def has_ready(self) -> bool:
        """Whether ``pop`` would return a job now."""
        return any(batch.ready(self._gates.get(b)) for b, batch in self._batches.items())

    def pop(self) -> Job | None:
        """The next job in rotation, counted as running; ``None`` if no batch may start one."""
        for _ in range(len(self._order)):
            batch_id = self._order[0]
            self._order.rotate(-1)
            batch = self._batches[batch_id]
            if batch.ready(self._gates.get(batch_id)):
                batch.running += 1
                return batch.retries.popleft() if batch.retries else batch.fresh.popleft()
        return None

    def finish(self, batch_id: str) -> None:
        """A running job of ``batch_id`` ended (its slot is free)."""
        batch = self._batches[batch_id]
        batch.running -= 1
        self._drop_if_empty(batch_id)

    def put_back(self, jobs: Sequence[Job]) -> None:
        """Running jobs that never left (started ahead, given back) go to the front of their
        batches, in this order, ahead of retries and fresh jobs; their slots are free."""
        for job in reversed(jobs):
            batch = self._batches[job.batch_id]
            batch.running -= 1
            batch.retries.appendleft(job)

    def finish_and_defer(self, job: Job, due: float) -> bool:
        """A running job failed and waits (holding no slot) until ``due`` to run again.

        Returns ``False``, and only finishes it, when its batch was cancelled meanwhile.
        """
        batch = self._batches[job.batch_id]
        batch.running -= 1
        if batch.cancelled:
            self._drop_if_empty(job.batch_id)
            return False
        batch.backing_off += 1
        heapq.heappush(self._backoff, _Waiting(due, next(self._seq), job))
        return True

    def promote(self, now: float) -> None:
        """Move every backing-off job whose time has come to the front of its batch."""
        while self._backoff and self._backoff[0].due <= now:
            job = heapq.heappop(self._backoff).job
            batch = self._batches[job.batch_id]
            batch.backing_off -= 1
            batch.retries.append(job)

    def next_due(self) -> float | None:
        """When the earliest backing-off job becomes ready."""
        return self._backoff[0].due if self._backoff else None

    def hold(self, batch_id: str) -> None:
        """Start nothing more of ``batch_id``, jobs added later included, until ``cancel``.

        The stop of a batch that must not start another image (``max_cost``) takes effect
        here at once, while the cancel that drops its jobs still waits for the database.
        """
        batch = self._batches.get(batch_id)
        if batch is not None:
            batch.held = True

    def gate(self, batch_id: str, gate: StartGate | None, *, unless_set: bool = False) -> None:
        """Start a job of ``batch_id`` only when ``gate(running)`` says so (None: remove it),
        set before its jobs are added or after: what its ``max_cost`` lets be in flight
        (``engine/cost_guard.py``). ``unless_set``: keep a gate already set."""
        if unless_set and batch_id in self._gates:
            return
        if gate is None:
            self._gates.pop(batch_id, None)
        else:
            self._gates[batch_id] = gate

    def gated(self, batch_id: str) -> bool:
        """Whether ``batch_id`` has a gate (its paid jobs hold their slot until recorded)."""
        return batch_id in self._gates

    def cancel(self, batch_id: str) -> list[Job]:
        """Drop the queued and backing-off jobs of ``batch_id`` (a hold ends) and return them."""
        batch = self._batches.get(batch_id)
        if batch is None:
            return []
        dropped = [*batch.retries, *batch.fresh]
        dropped += [w.job for w in self._backoff if w.job.batch_id == batch_id]
        self._backoff = [w for w in self._backoff if w.job.batch_id != batch_id]
        heapq.heapify(self._backoff)
        batch.retries.clear()
        batch.fresh.clear()
        batch.backing_off = 0
        batch.cancelled = True
        batch.held = False  # jobs added after the cancel (a retry) run
        self._drop_if_empty(batch_id)
        return sorted(dropped, key=lambda job: job.slide_key)

    def held(self, batch_id: str) -> bool:
        """Whether ``batch_id`` is held (``hold``) and not cancelled yet."""
        batch = self._batches.get(batch_id)
        return batch is not None and batch.held

    def cancelled(self, batch_id: str) -> bool:
        """Whether ``batch_id`` was cancelled and still has running jobs."""
        batch = self._batches.get(batch_id)
        return batch is not None and batch.cancelled

    def outstanding(self, batch_id: str) -> int:
        """Queued + backing off + running jobs of ``batch_id``."""
        batch = self._batches.get(batch_id)
        if batch is None:
            return 0
        return len(batch.fresh) + len(batch.retries) + batch.backing_off + batch.running

    def queued_total(self) -> int:
        """Jobs waiting for a slot (backing-off ones included), over all batches."""
        return sum(len(b.fresh) + len(b.retries) + b.backing_off for b in self._batches.values())

    def running_total(self) -> int:
        """Jobs being attempted right now."""
        return sum(b.running for b in self._batches.values())

    def stats(self) -> tuple[BatchQueueStats, ...]:
        """Each batch's queued, backing-off and running counts."""
        return tuple(
            BatchQueueStats(
                batch_id=batch_id,
                queued=len(batch.fresh) + len(batch.retries),
                backing_off=batch.backing_off,
                running=batch.running,
                cap=batch.cap,
            )
            for batch_id in self._order
            for batch in (self._batches[batch_id],)
        )

    def _drop_if_empty(self, batch_id: str) -> None:
        batch = self._batches.get(batch_id)
        if batch is not None and batch.empty():
            del self._batches[batch_id]
            self._order.remove(batch_id)
