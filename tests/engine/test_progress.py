"""A running batch's counters and remaining time (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchRecord
from slidebatch.core.estimate import UpstreamFigures
from slidebatch.core.states import BatchState
from slidebatch.engine.progress import QueueShare, RunningBatch, waiting_text

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


def test_with_the_queue_known_the_eta_counts_the_wait_the_queue_and_the_window() -> None:
    """12 s to the next start, 30 of ours + 10 ahead to start at 20 per 60 s: 12 + 60 + 9."""
    batch = _running(40)
    figures = replace(FIGURES, next_start_in=12.0, hold="rate_limit")
    assert batch.eta(100.0, figures, QueueShare(queued=30, ahead=10)) == 81.0
    fields = batch.progress(100.0, figures, QueueShare(queued=30, ahead=10))
    assert fields.waiting == "waiting for the rate limit, next start in 12 s"
    assert fields.next_start_in == 12.0
    assert fields.waiting_for == "rate_limit"


def test_the_eta_does_not_jump_when_a_window_burst_lands() -> None:
    """Ten ends in a second do not turn 'a window away' into 'a second away' (no pace)."""
    batch = _running(40)
    for _ in range(10):
        batch.count(ok=True)
    figures = replace(FIGURES, next_start_in=50.0)
    assert batch.eta(101.0, figures, QueueShare(queued=10, ahead=0)) == 59.0


def test_the_eta_is_never_faster_than_the_pace_so_far() -> None:
    """Limits allowing 1 s but 10 of 40 ended in 20 s (CPU-bound): 30 more take 60 s."""
    batch = _running(40)
    for _ in range(10):
        batch.count(ok=True)
    quick = UpstreamFigures(rate=None, window=60.0, latency=0.05)
    assert batch.eta(120.0, quick, QueueShare(queued=26, ahead=0)) == 60.0


def test_no_wait_is_said_when_the_next_start_is_now_or_nothing_is_queued() -> None:
    """A start due within a second, or a batch whose slides all run, waits for nothing."""
    batch = _running(5)
    soon = replace(FIGURES, next_start_in=0.4)
    assert batch.progress(100.0, soon, QueueShare(3, 0)).waiting is None
    later = replace(FIGURES, next_start_in=30.0)
    assert batch.progress(100.0, later, QueueShare(0, 4)).waiting is None


def test_a_parked_or_blocked_gate_is_named_for_what_it_is() -> None:
    """Parked: the quota; blocked: a wait beyond the pause cap."""
    quota = replace(FIGURES, next_start_in=3600.0, hold="quota")
    assert waiting_text(quota) == "waiting for the upstream quota to reset, next start in 3600 s"
    blocked = replace(FIGURES, next_start_in=881.0, hold="blocked", blocked_for=86_381.0)
    assert waiting_text(blocked) == (
        "the upstream asked to wait 86381 s, longer than the pause cap: "
        "credential blocked, next try in 881 s"
    )


def test_a_rate_limit_wait_is_never_said_longer_than_the_window() -> None:
    """A full 30 s window plus our 0.3 s margin reads "30 s", not "31 s"."""
    edge = replace(FIGURES, window=30.0, next_start_in=30.3, hold="rate_limit")
    assert waiting_text(edge) == "waiting for the rate limit, next start in 30 s"
    soon = replace(FIGURES, window=30.0, next_start_in=12.2, hold="rate_limit")
    assert waiting_text(soon) == "waiting for the rate limit, next start in 13 s"
    asked = replace(FIGURES, window=30.0, next_start_in=120.0, hold="rate_limit")
    assert waiting_text(asked) == "waiting for the rate limit, next start in 120 s"
