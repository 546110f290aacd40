"""What the engine answers: one frozen value per answer, built from stored records.

The API maps each to its ``*Out`` model once (``api/schemas.py``); the SSE events and the
CLI read the same values, so every client sees the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.states import BatchState, SlideState


def image_url(batch_id: str, image_file: str | None) -> str | None:
    """The stable URL of a stored image (server-made file names only)."""
    return f"/api/images/{batch_id}/{image_file}" if image_file else None


def rounded(value: float | None) -> float | None:
    """Seconds as answers show them (milliseconds)."""
    return None if value is None else round(value, 3)


@dataclass(frozen=True, slots=True)
class SlideAnswer:
    """One slide as the seed's ``results[]`` entry, plus what we know beyond the seed."""

    batch_id: str
    slide_id: str
    page_num: int
    type: str
    title: str
    content_text: str
    visual_desc: str
    state: SlideState
    image_url: str | None
    final_prompt: str
    error_message: str | None
    generation_time: float | None
    attempts: int
    placeholder: bool
    cost: float | None  # USD of the latest image
    warnings: tuple[str, ...] = ()
    spent: float | None = None  # USD of every paid image, replaced ones and candidates too
    cost_estimated: bool = False  # ``cost`` is the model's price (the provider's was lost)
    # A pending slide of a batch that waits on the gate: what for ("rate_limit", "quota" or
    # "blocked") and the seconds until the gate's next start (the earliest it can start).
    # ``state`` stays in the seed's vocabulary (pending), so a seed client reads it as ever.
    waiting_for: str | None = None
    next_start_in: float | None = None

    @property
    def status(self) -> SlideState:
        """The seed's name for ``state``."""
        return self.state

    @classmethod
    def of(cls, record: SlideRecord) -> SlideAnswer:
        slide = record.slide
        return cls(
            batch_id=record.batch_id,
            slide_id=slide.id,
            page_num=slide.page_num,
            type=str(slide.type),
            title=slide.title,
            content_text=slide.content_text,
            visual_desc=slide.visual_desc,
            state=record.state,
            image_url=image_url(record.batch_id, record.image_file),
            final_prompt=record.final_prompt,
            error_message=record.error_message,
            generation_time=rounded(record.generation_time),
            attempts=record.attempts,
            placeholder=record.placeholder,
            cost=record.cost,
            warnings=record.warnings,
            spent=record.spent,
            cost_estimated=record.cost_estimated,
        )


def waiting_slides(
    answers: Sequence[SlideAnswer], progress: Progress | None
) -> tuple[SlideAnswer, ...]:
    """``answers`` with the gate's wait on each pending slide, while its batch waits on it."""
    if progress is None or progress.waiting_for is None:
        return tuple(answers)
    return tuple(
        replace(a, waiting_for=progress.waiting_for, next_start_in=progress.next_start_in)
        if a.state is SlideState.PENDING
        else a
        for a in answers
    )


@dataclass(frozen=True, slots=True)
class QuotaWait:
    """The upstream's quota is spent: nothing starts before ``until`` (UTC), for ``reason``."""

    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a batch stands in numbers (cancelled slides count as failed)."""

    total_slides: int
    successful: int
    failed: int
    estimated_remaining_time: float | None
    # "waiting for the rate limit, next start in 12 s" while the batch waits on the gate.
    waiting: str | None = None
    next_start_in: float | None = None
    waiting_for: str | None = None  # while ``waiting``: "rate_limit", "quota" or "blocked"
    # Set while the credential's quota is spent (a daily cap, no credits): when it resets.
    waiting_for_quota: QuotaWait | None = None

    @property
    def completed_slides(self) -> int:
        return self.successful + self.failed

    @property
    def progress(self) -> float:
        total = self.total_slides
        return round(self.completed_slides / total, 4) if total else 1.0

    @classmethod
    def counted(cls, total: int, counts: dict[SlideState, int], eta: float | None) -> Progress:
        """From per-state slide counts."""
        failed = counts.get(SlideState.ERROR, 0) + counts.get(SlideState.CANCELLED, 0)
        return cls(total, counts.get(SlideState.DONE, 0), failed, eta)


def _waiting(progress: Progress, running: Progress | None) -> Progress:
    """``progress`` with what the running batch waits for (none once it is final)."""
    if running is None or progress.estimated_remaining_time is None:
        return progress
    return replace(
        progress,
        waiting=running.waiting,
        next_start_in=running.next_start_in,
        waiting_for=running.waiting_for,
        waiting_for_quota=running.waiting_for_quota,
    )


def state_counts(slides: Sequence[SlideRecord]) -> dict[SlideState, int]:
    """How many of ``slides`` are in each state."""
    counts = dict.fromkeys(SlideState, 0)
    for slide in slides:
        counts[slide.state] += 1
    return counts


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """The seed's status answer; ``results`` is None where slides are left out (lists, ends)."""

    batch_id: str
    status: BatchState
    progress: Progress
    queue_position: int | None
    title: str
    aspect_ratio: str
    max_workers: int | None
    requested_workers: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    total_time: float | None
    cancel_requested: bool
    results: tuple[SlideAnswer, ...] | None = None
    stop_reason: str | None = None  # "max_cost": stopped at its cost cap
    version: str | None = None  # the cursor for ``?since=`` (status answers only)
    error: str | None = None  # why it failed without its slides ending (its database lost)
    # USD of every paid image (None: none reported a cost); set by lists and status polls.
    cost: float | None = None
    # ``cost`` includes the model's price for images whose answer was lost (reconciled from
    # disk), and how many drawn slides have no price at all (``cost`` is then a lower bound).
    cost_estimated: bool = False
    costs_unknown: int = 0

    @classmethod
    def of(
        cls,
        batch: BatchRecord,
        counts: dict[SlideState, int],
        *,
        eta: float | None = None,
        queue_position: int | None = None,
        slides: Sequence[SlideRecord] | None = None,
        waiting: Progress | None = None,
        cost: float | None = None,
    ) -> BatchStatus:
        """``batch`` with its slide counts (and its slides, when given)."""
        eta = None if batch.state.is_final else rounded(eta)
        return cls(
            batch_id=batch.id,
            status=batch.state,
            progress=_waiting(Progress.counted(batch.total_slides, counts, eta), waiting),
            queue_position=queue_position,
            title=batch.title,
            aspect_ratio=str(batch.aspect_ratio),
            max_workers=batch.effective_workers,
            requested_workers=batch.requested_workers,
            created_at=batch.created_at,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
            total_time=rounded(batch.total_time),
            cancel_requested=batch.cancel_requested,
            stop_reason=batch.stop_reason,
            results=None if slides is None else tuple(SlideAnswer.of(s) for s in slides),
            cost=cost,
        )

    def without_results(self) -> BatchStatus:
        return replace(self, results=None)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The seed's synchronous ``/slide/batch/generate`` answer."""

    batch_id: str
    status: BatchState
    total_slides: int
    successful: int
    failed: int
    total_time: float
    max_workers: int | None
    results: tuple[SlideAnswer, ...]

    @classmethod
    def of(cls, batch: BatchRecord, slides: Sequence[SlideRecord]) -> BatchResult:
        progress = Progress.counted(batch.total_slides, state_counts(slides), None)
        return cls(
            batch_id=batch.id,
            status=batch.state,
            total_slides=batch.total_slides,
            successful=progress.successful,
            failed=progress.failed,
            total_time=rounded(batch.total_time) or 0.0,
            max_workers=batch.effective_workers,
            results=tuple(SlideAnswer.of(s) for s in slides),
        )


@dataclass(frozen=True, slots=True)
class SlideEvent:
    """One slide changed; ``progress`` is None once its batch has ended."""

    batch_id: str
    slide: SlideAnswer
    progress: Progress | None


@dataclass(frozen=True, slots=True)
class ActiveCount:
    """Running and queued batches (of one owner, or all)."""

    running: int
    queued: int
    max_concurrent: int


@dataclass(frozen=True, slots=True)
class BatchPage:
    """One page of the batch list, newest first."""

    items: tuple[BatchStatus, ...]
    total: int
    limit: int
    offset: int
