"""A running batch's counters and remaining time (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchRecord
from slidebatch.core.estimate import UpstreamFigures
from slidebatch.core.states import BatchState
from slidebatch.engine.progress import RunningBatch

FIGURES = UpstreamFigures(rate=20, window=60.0, latency=9.0)


def _running(total: int, workers: int | None = None) -> RunningBatch:
    record = BatchRecord(
        "a" * 32,
        BatchState.RUNNING,
        "",
        AspectRatio(16, 9),
        None,
        workers,
        total,
        datetime(2026, 11, 28, tzinfo=UTC),
    )
    return RunningBatch(record, open=total, successful=0, failed=0, started=100.0)


def test_before_any_slide_ends_the_eta_is_the_estimate() -> None:
    """With nothing finished yet, the remaining time comes from the limits."""
    assert _running(50).eta(100.0, FIGURES) == 129.0


def test_after_slides_end_the_eta_follows_the_pace() -> None:
    """Four of ten done in 20 s: six more take 30 s at that pace."""
    batch = _running(10)
    for ok in (True, True, False, True):
        batch.count(ok=ok)
    assert batch.eta(120.0, FIGURES) == 30.0
    fields = batch.progress(120.0, FIGURES)
    assert (fields.completed_slides, fields.successful, fields.failed) == (4, 3, 1)
    assert fields.progress == 0.4
