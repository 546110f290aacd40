"""Where a running batch stands: its counters, progress figures and remaining time (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.core.batch import BatchRecord
from slidebatch.core.estimate import UpstreamFigures, estimate_seconds
from slidebatch.engine.answers import Progress


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

    def eta(self, now: float, figures: UpstreamFigures) -> float:
        """Seconds left: the pace so far, or before any slide ended, the estimate."""
        if self.open <= 0:
            return 0.0
        if self.completed_here:
            return round((now - self.started) / self.completed_here * self.open, 1)
        return round(estimate_seconds(self.open, figures, self.record.effective_workers), 1)

    def progress(self, now: float, figures: UpstreamFigures) -> Progress:
        """The counts and remaining time, for a slide event or a status answer."""
        return Progress(
            self.record.total_slides, self.successful, self.failed, self.eta(now, figures)
        )
