"""What happens when an attempt starts, succeeds, waits for a retry or fails.

The dispatcher reports each attempt here (this is its ``JobListener``): the slide's new state is
persisted first, then logged, then published to whoever watches the batch. The engine hears
of every slide that reached a final state through ``on_final``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from slidebatch.core.states import SlideState
from slidebatch.engine.events import EventBus
from slidebatch.engine.views import image_url
from slidebatch.errors import ProviderError
from slidebatch.observability.pipeline_log import PipelineLog
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.scheduler.job import Job
from slidebatch.storage.images import ImageStore
from slidebatch.storage.repository import BatchRepository

PlaceholderRenderer = Callable[[ImageRequest, str], bytes]


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
        on_final: Callable[[str, bool, Callable[[], None]], Awaitable[None]],
        progress: Callable[[str], dict[str, Any]],
        placeholder: PlaceholderRenderer | None = None,
    ) -> None:
        self.repo = repo
        self.images = images
        self.log = log
        self.events = events
        self._provider_name = provider_name
        self._wall = wall
        self._on_final_cb = on_final
        self._progress = progress
        self._placeholder = placeholder

    async def _on_final(self, batch_id: str, *, ok: bool, announce: Callable[[], None]) -> None:
        # The engine counts the slide, then announces it (so the event carries the new
        # progress), then ends the batch if it was the last one.
        await self._on_final_cb(batch_id, ok, announce)

    async def on_started(self, job: Job, attempt: int) -> None:
        await self.repo.mark_generating(
            job.batch_id, job.slide_key, attempt=attempt, at=self._wall()
        )
        self.log.event(
            "slide_started",
            batch_id=job.batch_id,
            details={
                "slide_key": job.slide_key,
                "page_num": job.request.slide.page_num,
                "attempt": attempt,
            },
        )
        self._publish_slide(job, SlideState.GENERATING, attempts=attempt)

    async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None:
        await self._store_image(job, result, attempt, placeholder=result.placeholder)

    async def on_retry(self, job: Job, error: ProviderError, delay: float, attempt: int) -> None:
        await self.repo.mark_waiting(
            job.batch_id,
            job.slide_key,
            message=str(error),
            attempts=attempt if error.kind != "rate_limited" else job.attempts,
            requeues=job.requeues + (1 if error.kind == "rate_limited" else 0),
        )
        self.log.event(
            "slide_retry",
            level="warning",
            batch_id=job.batch_id,
            details={
                "slide_key": job.slide_key,
                "page_num": job.request.slide.page_num,
                "attempt": attempt,
                "error_kind": error.kind,
                "status": error.status,
                "error": str(error),
                "retry_in": round(delay, 3),
            },
        )
        self._publish_slide(job, SlideState.PENDING, attempts=attempt, error=str(error))

    async def on_failed(self, job: Job, error: ProviderError, attempt: int) -> None:
        if self._placeholder is not None:
            data = await asyncio.to_thread(self._placeholder, job.request, str(error))
            width, height = job.request.aspect_ratio.render_size(1920)
            placeholder = ImageResult(
                data, "image/png", width, height, latency_s=0.0, placeholder=True
            )
            self.log.event(
                "slide_degraded",
                level="warning",
                batch_id=job.batch_id,
                details={
                    "slide_key": job.slide_key,
                    "page_num": job.request.slide.page_num,
                    "error": str(error),
                },
            )
            await self._store_image(job, placeholder, attempt, placeholder=True, error=str(error))
            return
        await self.repo.mark_error(job.batch_id, job.slide_key, message=str(error), at=self._wall())
        self.log.event(
            "slide_failed",
            level="error",
            batch_id=job.batch_id,
            details={
                "slide_key": job.slide_key,
                "page_num": job.request.slide.page_num,
                "attempts": attempt,
                "error_kind": error.kind,
                "status": error.status,
                "error": str(error),
            },
        )
        await self._on_final(
            job.batch_id,
            ok=False,
            announce=lambda: self._publish_slide(
                job, SlideState.ERROR, attempts=attempt, error=str(error)
            ),
        )

    async def _store_image(
        self,
        job: Job,
        result: ImageResult,
        attempt: int,
        *,
        placeholder: bool,
        error: str | None = None,
    ) -> None:
        slide = job.request.slide
        image_file = await asyncio.to_thread(
            self.images.write, job.batch_id, job.slide_key, slide.page_num, result.data
        )
        await self.repo.mark_done(
            job.batch_id,
            job.slide_key,
            image_file=image_file,
            generation_time=result.latency_s,
            cost=result.cost,
            placeholder=placeholder,
            at=self._wall(),
        )
        self.log.event(
            "slide_completed",
            batch_id=job.batch_id,
            details={
                "slide_id": slide.id,
                "slide_key": job.slide_key,
                "page_num": slide.page_num,
                "generation_time": round(result.latency_s, 3),
                "attempts": attempt,
                "provider": self._provider_name,
                "width": result.width,
                "height": result.height,
                "cost": result.cost,
                "placeholder": placeholder,
                "upstream_request_id": result.upstream_request_id,
                "warnings": list(result.warnings),
                **({"error": error} if error else {}),
            },
        )
        await self._on_final(
            job.batch_id,
            ok=True,
            announce=lambda: self._publish_slide(
                job,
                SlideState.DONE,
                attempts=attempt,
                image_file=image_file,
                generation_time=result.latency_s,
                placeholder=placeholder,
                error=error,
            ),
        )

    def _publish_slide(
        self,
        job: Job,
        state: SlideState,
        *,
        attempts: int,
        image_file: str | None = None,
        generation_time: float | None = None,
        placeholder: bool = False,
        error: str | None = None,
    ) -> None:
        if not self.events.subscriber_count(job.batch_id):
            return
        slide = job.request.slide
        data: dict[str, Any] = {
            "batch_id": job.batch_id,
            "slide": {
                "slide_id": slide.id,
                "page_num": slide.page_num,
                "title": slide.title,
                "type": str(slide.type),
                "visual_desc": slide.visual_desc,
                "state": str(state),
                "status": str(state),
                "image_url": image_url(job.batch_id, image_file),
                "error_message": error,
                "generation_time": None if generation_time is None else round(generation_time, 3),
                "attempts": attempts,
                "placeholder": placeholder,
            },
        }
        data |= self._progress(job.batch_id)
        self.events.publish(job.batch_id, "slide", data)
