"""Where a running batch stands: its counters, progress figures and remaining time (pure).

The remaining time counts what stands between the batch and its end: its own slides not yet
started, the other batches' slides that the round robin starts among them, the gate's wait
for its next start and the rate window, then one typical latency. It moves smoothly as
slides start and end, instead of jumping between a pace (0.6 s a slide while a window's
burst lands) and the wait for the next window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slidebatch.core.batch import BatchRecord
from slidebatch.core.estimate import UpstreamFigures, estimate_seconds
from slidebatch.engine.answers import Progress

# Below this the wait is noise (the window's next slot is about to free): not worth saying.
_SAY_WAIT_FROM = 1.0


@dataclass(frozen=True, slots=True)
class QueueShare:
    """A batch's place in the shared queue: its unstarted slides and those among them."""

    queued: int  # this batch's slides not started yet (backing off included)
    ahead: int  # other batches' slides the round robin starts before or among them


@dataclass(slots=True)
class RunningBatch:
    """What the engine holds for a batch while it runs (and nothing after)."""

    record: BatchRecord
    open: int  # slides not yet in a final state
    successful: int
    failed: int
    started: float  # monotonic
    completed_here: int = 0  # slides finished since this process started the batch
    cancel_requested: bool = False  # the user cancelled; the batch ends cancelled

    def count(self, *, ok: bool) -> None:
        """One slide reached a final state."""
        self.open -= 1
        self.completed_here += 1
        if ok:
            self.successful += 1
        else:
            self.failed += 1

    def eta(self, now: float, figures: UpstreamFigures, queue: QueueShare | None = None) -> float:
        """Seconds left: from the queue and the gate when ``queue`` is known, else the pace."""
        if self.open <= 0:
            return 0.0
        pace = self._pace(now)
        if queue is not None:
            starts = queue.queued + queue.ahead
            if starts == 0:
                return round(figures.latency, 1)  # all running: about one latency at most
            workers = self.record.effective_workers
            planned = figures.next_start_in + estimate_seconds(starts, figures, workers)
            # The limits say how fast it could go; the pace so far says how fast it does go
            # when something else binds (CPU for the local renderer). Never promise the faster.
            return round(max(planned, pace or 0.0), 1)
        if pace is not None:
            return round(pace, 1)
        return round(estimate_seconds(self.open, figures, self.record.effective_workers), 1)

    def _pace(self, now: float) -> float | None:
        """Seconds left at the pace of the slides ended so far (None before two have ended)."""
        if self.completed_here < 2:
            return None
        return (now - self.started) / self.completed_here * self.open

    def progress(
        self, now: float, figures: UpstreamFigures, queue: QueueShare | None = None
    ) -> Progress:
        """The counts, remaining time and what the batch waits for, for an event or status."""
        waiting = waiting_text(figures) if queue is not None and queue.queued else None
        return Progress(
            self.record.total_slides,
            self.successful,
            self.failed,
            self.eta(now, figures, queue),
            waiting=waiting,
            next_start_in=round(figures.next_start_in, 1) if waiting else None,
            waiting_for=(figures.hold or "rate_limit") if waiting else None,
        )


def waiting_text(figures: UpstreamFigures) -> str | None:
    """What a batch with unstarted slides waits for, in words; None when it does not wait."""
    if figures.next_start_in < _SAY_WAIT_FROM:
        return None
    seconds = math.ceil(figures.next_start_in)
    window = figures.window
    if figures.hold not in ("quota", "blocked") and window < figures.next_start_in <= window * 1.05:
        # Our window's edge lies a margin (at most 5% of it) past the upstream's, kept
        # against jitter: a full 30 s window read "next start in 31 s". The margin is ours;
        # say the window. (A longer pause the upstream asked for is said as it is.)
        seconds = max(1, math.floor(window))
    if figures.hold == "quota":
        return f"waiting for the upstream quota to reset, next start in {seconds} s"
    if figures.hold == "blocked":
        # README: a wait over UPSTREAM_MAX_PAUSE_SECONDS pauses for the cap and reports the
        # credential blocked. Say both: what the upstream asked, and what we do instead.
        asked = (
            f"to wait {math.ceil(figures.blocked_for)} s, longer than the pause cap"
            if figures.blocked_for
            else "for a wait longer than the pause cap"
        )
        return f"the upstream asked {asked}: credential blocked, next try in {seconds} s"
    return f"waiting for the rate limit, next start in {seconds} s"
