"""The JSON shapes clients see (the seed's field names), built from stored records.

One place builds them, so the HTTP answers, the SSE events and the CLI manifest agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.slide import Slide
from slidebatch.core.states import SlideState


def image_url(batch_id: str, image_file: str | None) -> str | None:
    """The stable URL of a stored image (server-made file names only)."""
    return f"/api/images/{batch_id}/{image_file}" if image_file else None


def slide_fields(slide: Slide) -> dict[str, Any]:
    """A slide as a client would send it back (the seed's request fields)."""
    return {
        "id": slide.id,
        "page_num": slide.page_num,
        "type": str(slide.type),
        "title": slide.title,
        "content_text": slide.content_text,
        "visual_desc": slide.visual_desc,
    }


def slide_result(record: SlideRecord) -> dict[str, Any]:
    """One slide as the seed's ``results[]`` entry, plus what we know beyond the seed."""
    slide = record.slide
    return {
        "slide_id": slide.id,
        "page_num": slide.page_num,
        "type": str(slide.type),
        "title": slide.title,
        "content_text": slide.content_text,
        "visual_desc": slide.visual_desc,
        "state": str(record.state),
        "status": str(record.state),
        "image_url": image_url(record.batch_id, record.image_file),
        "final_prompt": record.final_prompt,
        "error_message": record.error_message,
        "generation_time": _rounded(record.generation_time),
        "attempts": record.attempts,
        "placeholder": record.placeholder,
        "cost": record.cost,
    }


def progress_counts(slides: Sequence[SlideRecord]) -> tuple[int, int, int]:
    """(successful, failed, completed) over ``slides``; cancelled slides count as failed."""
    successful = sum(1 for s in slides if s.state is SlideState.DONE)
    failed = sum(1 for s in slides if s.state in (SlideState.ERROR, SlideState.CANCELLED))
    return successful, failed, successful + failed


def batch_status(
    batch: BatchRecord,
    slides: Sequence[SlideRecord],
    *,
    eta: float | None,
    queue_position: int | None,
    with_results: bool = True,
) -> dict[str, Any]:
    """The seed's status answer for ``batch``."""
    successful, failed, completed = progress_counts(slides)
    total = batch.total_slides
    status: dict[str, Any] = {
        "batch_id": batch.id,
        "status": str(batch.state),
        "progress": round(completed / total, 4) if total else 1.0,
        "total_slides": total,
        "completed_slides": completed,
        "successful": successful,
        "failed": failed,
        "estimated_remaining_time": None if batch.state.is_final else _rounded(eta),
        "queue_position": queue_position,
        "title": batch.title,
        "aspect_ratio": str(batch.aspect_ratio),
        "max_workers": batch.effective_workers,
        "requested_workers": batch.requested_workers,
        "created_at": batch.created_at.isoformat(),
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        "total_time": _rounded(batch.total_time),
        "cancel_requested": batch.cancel_requested,
    }
    if with_results:
        status["results"] = [slide_result(s) for s in slides]
    return status


def generate_response(batch: BatchRecord, slides: Sequence[SlideRecord]) -> dict[str, Any]:
    """The seed's synchronous ``/slide/batch/generate`` answer."""
    successful, failed, _ = progress_counts(slides)
    return {
        "batch_id": batch.id,
        "status": str(batch.state),
        "total_slides": batch.total_slides,
        "successful": successful,
        "failed": failed,
        "total_time": _rounded(batch.total_time) or 0.0,
        "max_workers": batch.effective_workers,
        "results": [slide_result(s) for s in slides],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
