"""Persisting each attempt: the slide's new state is stored, then logged; the outcome returned.

The recorder neither counts nor publishes nor ends batches: it returns what storing came to
(``SlideOutcome``, with the ``SlideChange`` stored) and the engine's flow acts on it. A final
outcome is returned even when storing fails (``FAILED``), so no batch is left waiting for a
slide that will never report; ``GONE`` means the batch was deleted meanwhile and there is
nothing left to tell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from slidebatch.core.slide_change import SlideChange
from slidebatch.errors import NotFound, ProviderError
from slidebatch.observability.pipeline_log import EventLog
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.scheduler.job import Job
from slidebatch.storage.errors import StorageLost
from slidebatch.storage.images import ImageStore
from slidebatch.storage.repository import BatchRepository

# Draws a marked stand-in for a failed request (blocking; run in a thread) with its real size.
PlaceholderRenderer = Callable[[ImageRequest, str], ImageResult]

_SUFFIX_BY_MIME = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


class SlideOutcome(StrEnum):
    """How a slide's last attempt ended, once stored."""

    DONE = "done"  # an image (or a marked placeholder) is stored
    FAILED = "failed"  # failed for good, or its image could not be stored
    CANCELLED = "cancelled"  # started ahead, never sent: its batch was cancelled first
    GONE = "gone"  # the batch was deleted while the attempt ran


@dataclass(frozen=True, slots=True)
class Recorded:
    """A final outcome and the change stored with it (None: nothing was stored)."""

    outcome: SlideOutcome
    change: SlideChange | None = None


class SlideRecorder:
    """Stores and logs each attempt's outcome; returns final outcomes to the engine."""

    def __init__(
        self,
        *,
        repo: BatchRepository,
        images: ImageStore,
        provider_name: str,
        log: EventLog,
        wall: Callable[[], datetime],
        placeholder: PlaceholderRenderer | None = None,
    ) -> None:
        self._repo = repo
        self._images = images
        self._log = log
        self._provider_name = provider_name
        self._wall = wall
        self._placeholder = placeholder

    async def started(self, job: Job, attempt: int) -> SlideChange:
        """Attempt ``attempt`` (paid attempts, 1-based) is on its way."""
        change = await self._repo.mark_generating(
            job.batch_id, job.slide_key, attempt=attempt, at=self._wall()
        )
        self._log.event("slide_started", batch_id=job.batch_id, details=_where(job, attempt))
        return change

    async def dropped(self, job: Job, attempt: int) -> Recorded:
        """Attempt ``attempt`` was stored as started but never sent (its batch was cancelled
        while it waited for a slot): the slide ends cancelled, that attempt unpaid."""
        try:
            change = await self._repo.mark_dropped(
                job.batch_id, job.slide_key, attempts=attempt - 1, at=self._wall()
            )
        except NotFound:
            return Recorded(SlideOutcome.GONE)
        self._log.event("slide_dropped", batch_id=job.batch_id, details=_where(job, attempt))
        return Recorded(SlideOutcome.CANCELLED, change)

    async def returned(self, job: Job, attempt: int) -> SlideChange | None:
        """Attempt ``attempt`` was stored as started but not sent, and will not be soon (the
        dispatcher held, the upstream paused or parked): the slide is pending again, that
        attempt unpaid and not counted. None: the batch was deleted meanwhile."""
        try:
            change = await self._repo.mark_returned(
                job.batch_id, job.slide_key, attempts=attempt - 1
            )
        except NotFound:
            return None
        self._log.event("slide_returned", batch_id=job.batch_id, details=_where(job, attempt))
        return change

    async def waiting(
        self, again: Job, error: ProviderError, delay: float, attempt: int
    ) -> SlideChange:
        """Attempt ``attempt`` failed; ``again`` (budgets charged) runs after ``delay`` s."""
        change = await self._repo.mark_waiting(
            again.batch_id,
            again.slide_key,
            message=str(error),
            attempts=again.attempts,
            requeues=again.requeues,
        )
        self._log.event(
            "slide_retry",
            level="warning",
            batch_id=again.batch_id,
            details=_where(again, attempt) | _error_fields(error) | {"retry_in": round(delay, 3)},
        )
        return change

    async def succeeded(self, job: Job, result: ImageResult, attempt: int) -> Recorded:
        """Store the image; the slide is done."""
        return await self._store_image(job, result, attempt)

    async def failed(self, job: Job, error: ProviderError, attempt: int) -> Recorded:
        """The slide failed for good: store a marked placeholder (if enabled) or the error."""
        if self._placeholder is not None:
            return await self._degrade(job, error, attempt, self._placeholder)
        return await self._fail(job, str(error), attempt, _error_fields(error))

    async def _degrade(
        self, job: Job, error: ProviderError, attempt: int, draw: PlaceholderRenderer
    ) -> Recorded:
        """Store a locally drawn, clearly marked stand-in instead of failing the slide."""
        stand_in = await asyncio.to_thread(draw, job.request, str(error))
        self._log.event(
            "slide_degraded",
            level="warning",
            batch_id=job.batch_id,
            details=_where(job, attempt) | _error_fields(error),
        )
        return await self._store_image(job, stand_in, attempt, error=str(error))

    async def _fail(self, job: Job, message: str, attempt: int, fields: dict[str, Any]) -> Recorded:
        change = None
        try:
            change = await self._repo.mark_error(
                job.batch_id, job.slide_key, message=message, at=self._wall()
            )
        except NotFound:
            return Recorded(SlideOutcome.GONE)
        except StorageLost:
            raise  # the batch fails (``Runs.storage_lost``): nothing more can be stored
        except Exception as exc:  # the batch still ends: the slide counts as failed
            self._log.failure("slide_record_failed", exc, batch_id=job.batch_id)
        self._log.event(
            "slide_failed",
            level="error",
            batch_id=job.batch_id,
            details=_where(job, attempt, key="attempts") | fields,
        )
        return Recorded(SlideOutcome.FAILED, change)

    async def _store_image(
        self, job: Job, result: ImageResult, attempt: int, *, error: str | None = None
    ) -> Recorded:
        try:
            image_file = await asyncio.to_thread(self._write_file, job, result)
            try:
                change = await self._repo.mark_done(
                    job.batch_id,
                    job.slide_key,
                    image_file=image_file,
                    generation_time=result.latency_s,
                    cost=result.cost,
                    placeholder=result.placeholder,
                    at=self._wall(),
                    warnings=result.warnings,
                )
            except NotFound:
                # Deleted while this attempt ran: leave no orphan file behind.
                await asyncio.to_thread(self._unlink, job.batch_id, image_file)
                return Recorded(SlideOutcome.GONE)
        except StorageLost:
            raise
        except Exception as exc:
            self._log.failure("slide_store_failed", exc, batch_id=job.batch_id)
            return await self._fail(job, f"could not store the image: {exc}", attempt, {})
        self._log.event(
            "slide_completed",
            batch_id=job.batch_id,
            details=self._completed_fields(job, result, error) | _where(job, attempt, "attempts"),
        )
        return Recorded(SlideOutcome.DONE, change)

    def _write_file(self, job: Job, result: ImageResult) -> str:
        suffix = _SUFFIX_BY_MIME.get(result.mime_type, ".png")
        page = job.request.slide.page_num
        return self._images.write(
            job.batch_id, job.slide_key, page, result.data, suffix=suffix, cost=result.cost
        )

    def _completed_fields(self, job: Job, result: ImageResult, error: str | None) -> dict[str, Any]:
        return {
            "slide_id": job.request.slide.id,
            "generation_time": round(result.latency_s, 3),
            "provider": self._provider_name,
            "width": result.width,
            "height": result.height,
            "cost": result.cost,
            "placeholder": result.placeholder,
            "upstream_request_id": result.upstream_request_id,
            "warnings": list(result.warnings),
            **({"error": error} if error else {}),
        }

    def _unlink(self, batch_id: str, file: str) -> None:
        try:
            self._images.path(batch_id, file).unlink(missing_ok=True)
        except (OSError, ValueError) as exc:
            self._log.failure("image_orphan_left", exc, batch_id=batch_id, file=file)


def _where(job: Job, attempt: int, key: str = "attempt") -> dict[str, Any]:
    return {"slide_key": job.slide_key, "page_num": job.request.slide.page_num, key: attempt}


def _error_fields(error: ProviderError) -> dict[str, Any]:
    """The failed attempt as the one record of it (providers write none)."""
    return {
        "error_kind": error.kind,
        "status": error.status,
        "retry_after": error.retry_after,
        "upstream_request_id": error.upstream_request_id,
        "error": str(error),
    }
