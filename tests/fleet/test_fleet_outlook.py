"""What an API process of a fleet says a running batch waits for (no database: the shared
gate's figures and the batch's stored slides are given)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.estimate import UpstreamFigures
from slidebatch.core.slide import Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import BatchStatus, waiting_slides
from slidebatch.fleet.engine import FleetRuns
from slidebatch.testing.clock import FakeClock

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FIGURES = UpstreamFigures(rate=20, window=6.0, latency=0.9, next_start_in=4.6, hold="rate_limit")


@dataclass
class _Gate:
    parked_until: float | None = None
    park_reason: str | None = None


@dataclass
class _Stats:
    gate: _Gate


class _Dispatcher:
    def stats(self) -> _Stats:
        return _Stats(_Gate())


def _runs(figures: UpstreamFigures) -> FleetRuns:
    unused: Any = None
    return FleetRuns(
        store=unused,
        repo=unused,
        dispatcher=_Dispatcher(),  # type: ignore[arg-type]
        watchers=unused,
        log=unused,
        config=unused,
        clock=FakeClock(),
        wall=lambda: NOW,
        figures=lambda: figures,
    )


def _batch(state: BatchState = BatchState.RUNNING) -> BatchRecord:
    return BatchRecord("b" * 32, state, "calm", AspectRatio(16, 9), None, None, 4, NOW)


def _slides(*states: SlideState) -> list[SlideRecord]:
    return [
        SlideRecord("b" * 32, key, Slide(f"s{key}", key, SlideType.CONTENT, "T"), state)
        for key, state in enumerate(states, start=1)
    ]


def test_a_running_batch_with_unstarted_slides_says_it_waits_for_the_rate_limit() -> None:
    """The shared gate's next start is 4.6 s away and two slides are pending: the status
    says so, on the batch and on each pending slide, as a single process does (before, a
    fleet's API process said nothing and its ETA ignored the wait)."""
    slides = _slides(SlideState.DONE, SlideState.GENERATING, SlideState.PENDING, SlideState.PENDING)
    eta, progress = _runs(FIGURES).outlook(_batch(), slides)
    assert progress is not None
    assert progress.waiting == "waiting for the rate limit, next start in 5 s"
    assert (progress.waiting_for, progress.next_start_in) == ("rate_limit", 4.6)
    assert eta == 5.5  # the wait, then one latency: 3 unfinished slides fit one window
    counts = {SlideState.DONE: 1, SlideState.GENERATING: 1, SlideState.PENDING: 2}
    status = BatchStatus.of(_batch(), counts, eta=eta, waiting=progress, slides=slides)
    assert status.progress.waiting == progress.waiting
    marked = waiting_slides(status.results, status.progress)
    assert [(a.status, a.waiting_for, a.next_start_in) for a in marked] == [
        ("done", None, None),
        ("generating", None, None),
        ("pending", "rate_limit", 4.6),
        ("pending", "rate_limit", 4.6),
    ]


def test_nothing_is_said_when_the_next_start_is_near_or_nothing_waits() -> None:
    """A next start under a second away, or no pending slide: no waiting text."""
    near = replace(FIGURES, next_start_in=0.4)
    _, progress = _runs(near).outlook(_batch(), _slides(SlideState.PENDING))
    assert progress is not None
    assert progress.waiting is None
    _, progress = _runs(FIGURES).outlook(_batch(), _slides(SlideState.GENERATING))
    assert progress is not None
    assert progress.waiting is None
