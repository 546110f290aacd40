"""Where a running batch stands: its counters, progress figures and remaining time (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slidebatch.core.batch import BatchRecord
from slidebatch.core.estimate import UpstreamFigures, estimate_seconds


@dataclass(slots=True)
class RunningBatch:
    """What the engine holds for a batch while it runs (and nothing after)."""

    record: BatchRecord
    open: int  # slides not yet in a final state
    successful: int
    failed: int
    started: float  # monotonic
    completed_here: int = 0  # slides finished since this process started the batch

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

    def progress_fields(self, now: float, figures: UpstreamFigures) -> dict[str, Any]:
        """The progress part of a slide event."""
        total = self.record.total_slides
        completed = self.successful + self.failed
        return {
            "total_slides": total,
            "completed_slides": completed,
            "successful": self.successful,
            "failed": self.failed,
            "progress": round(completed / total, 4) if total else 1.0,
            "estimated_remaining_time": self.eta(now, figures),
        }
