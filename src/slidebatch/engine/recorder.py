"""What happens when an attempt starts, succeeds, waits for a retry or fails.

The dispatcher reports each attempt here (this is its ``JobListener``): the slide's new state is
persisted first, then logged, then published to whoever watches the batch. Every final outcome
reaches the engine through ``on_final``, even when storing it fails, so no batch is left
waiting for a slide that will never report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from slidebatch.engine.answers import Progress, SlideAnswer, SlideEvent
from slidebatch.engine.events import EventBus
from slidebatch.errors import NotFound, ProviderError
from slidebatch.observability.pipeline_log import PipelineLog
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.scheduler.job import Job
from slidebatch.storage.images import ImageStore
from slidebatch.storage.repository import BatchRepository

logger = logging.getLogger("slidebatch.engine")

# Draws a marked stand-in for a failed request (blocking; run in a thread) with its real size.
PlaceholderRenderer = Callable[[ImageRequest, str], ImageResult]
Announce = Callable[[], Awaitable[None]]
# The engine's side: count the slide, call announce (so the event carries the new
# progress), then end the batch if it was the last one.
OnFinal = Callable[[str, bool, Announce], Awaitable[None]]

_SUFFIX_BY_MIME = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


class SlideRecorder:
    """Persists, logs and publishes each attempt's outcome (the dispatcher's listener)."""

    def __init__(
        self,
        *,
        repo: BatchRepository,
        images: ImageStore,
        provider_name: str,
        log: PipelineLog,
        events: EventBus,
        wall: Callable[[], datetime],
        on_final: OnFinal,
        progress: Callable[[str], Progress | None],
        placeholder: PlaceholderRenderer | None = None,
    ) -> None:
        self.repo = repo
        self.images = images
        self.log = log
        self.events = events
        self._provider_name = provider_name
        self._wall = wall
        self._on_final = on_final
        self._progress = progress
        self._placeholder = placeholder

    async def on_started(self, job: Job, attempt: int) -> None:
        await self.repo.mark_generating(
            job.batch_id, job.slide_key, attempt=attempt, at=self._wall()
        )
        self.log.event("slide_started", batch_id=job.batch_id, details=_where(job, attempt=attempt))
        await self._publish(job)

    async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None:
        await self._store_image(job, result, attempt)

    async def on_retry(self, job: Job, error: ProviderError, delay: float, attempt: int) -> None:
        rate_limited = error.kind == "rate_limited"
        await self.repo.mark_waiting(
            job.batch_id,
            job.slide_key,
            message=str(error),
            attempts=job.attempts if rate_limited else attempt,
            requeues=job.requeues + (1 if rate_limited else 0),
        )
        self.log.event(
            "slide_retry",
            level="warning",
            batch_id=job.batch_id,
            details=_where(job, attempt=attempt)
            | _error_fields(error)
            | {"retry_in": round(delay, 3)},
        )
        await self._publish(job)

    async def on_failed(self, job: Job, error: ProviderError, attempt: int) -> None:
        if self._placeholder is not None:
            await self._degrade(job, error, attempt)
            return
        await self._fail(job, str(error), attempt, _error_fields(error))

    async def _degrade(self, job: Job, error: ProviderError, attempt: int) -> None:
        """Store a locally drawn, clearly marked stand-in instead of failing the slide."""
        assert self._placeholder is not None
        stand_in = await asyncio.to_thread(self._placeholder, job.request, str(error))
        self.log.event(
            "slide_degraded",
            level="warning",
            batch_id=job.batch_id,
            details=_where(job, attempt=attempt) | _error_fields(error),
        )
        await self._store_image(job, stand_in, attempt, error=str(error))

    async def _fail(self, job: Job, message: str, attempt: int, fields: dict[str, Any]) -> None:
        try:
            await self.repo.mark_error(
                job.batch_id, job.slide_key, message=message, at=self._wall()
            )
        except NotFound:
            return  # the batch was deleted meanwhile: nothing left to record
        except Exception:
            logger.exception("could not record a failed slide; the batch still ends")
        self.log.event(
            "slide_failed",
            level="error",
            batch_id=job.batch_id,
            details=_where(job, attempts=attempt) | fields,
        )
        await self._on_final(job.batch_id, False, lambda: self._publish(job))

    async def _store_image(
        self, job: Job, result: ImageResult, attempt: int, *, error: str | None = None
    ) -> None:
        slide = job.request.slide
        suffix = _SUFFIX_BY_MIME.get(result.mime_type, ".png")
        try:
            image_file = await asyncio.to_thread(
                self.images.write,
                job.batch_id,
                job.slide_key,
                slide.page_num,
                result.data,
                suffix=suffix,
            )
            try:
                await self.repo.mark_done(
                    job.batch_id,
                    job.slide_key,
                    image_file=image_file,
                    generation_time=result.latency_s,
                    cost=result.cost,
                    placeholder=result.placeholder,
                    at=self._wall(),
                )
            except NotFound:
                # Deleted while this attempt ran: leave no orphan file behind.
                await asyncio.to_thread(_unlink, self.images, job.batch_id, image_file)
                return
        except Exception as exc:
            logger.exception("could not store a generated image")
            await self._fail(job, f"could not store the image: {exc}", attempt, {})
            return
        self.log.event(
            "slide_completed",
            batch_id=job.batch_id,
            details={
                "slide_id": slide.id,
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
            | _where(job, attempts=attempt),
        )
        await self._on_final(job.batch_id, True, lambda: self._publish(job))

    async def _publish(self, job: Job) -> None:
        """Tell watchers about the slide as it is stored now, in the status answer's shape."""
        if not self.events.subscriber_count(job.batch_id):
            return
        progress = self._progress(job.batch_id)  # as of this change, before awaiting
        try:
            record = await self.repo.get_slide(job.batch_id, job.slide_key)
        except NotFound:
            return
        self.events.publish(
            job.batch_id, SlideEvent(job.batch_id, SlideAnswer.of(record), progress)
        )


def _where(job: Job, **extra: Any) -> dict[str, Any]:
    return {"slide_key": job.slide_key, "page_num": job.request.slide.page_num, **extra}


def _error_fields(error: ProviderError) -> dict[str, Any]:
    return {"error_kind": error.kind, "status": error.status, "error": str(error)}


def _unlink(images: ImageStore, batch_id: str, file: str) -> None:
    try:
        images.path(batch_id, file).unlink(missing_ok=True)
    except (OSError, ValueError):
        logger.warning("could not remove an orphan image file")
