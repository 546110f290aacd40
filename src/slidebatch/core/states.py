"""Slide and batch states, and how a batch's state follows from its slides."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class SlideState(StrEnum):
    PENDING = "pending"
    GENERATING = "generating"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (SlideState.DONE, SlideState.ERROR, SlideState.CANCELLED)


class BatchState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (BatchState.QUEUED, BatchState.RUNNING)


def final_batch_state(counts: Mapping[SlideState, int], *, cancelled: bool) -> BatchState:
    """The state a batch ends in, given how many of its slides ended in each state.

    All done: completed. Some done, some failed: completed_with_errors. None done: failed.
    A cancel request wins over everything but "all done".
    """
    done = counts.get(SlideState.DONE, 0)
    total = sum(counts.values())
    if total and done == total:
        return BatchState.COMPLETED
    if cancelled:
        return BatchState.CANCELLED
    if done == 0:
        return BatchState.FAILED
    return BatchState.COMPLETED_WITH_ERRORS
