"""Counting what the dispatcher reports, for ``/metrics``, without touching the engine's logic."""

from __future__ import annotations

from slidebatch.errors import ProviderError
from slidebatch.observability.metrics import Metrics
from slidebatch.providers.base import ImageResult
from slidebatch.scheduler.dispatcher import JobListener
from slidebatch.scheduler.job import Job


class MeteredListener:
    """A ``JobListener`` that records metrics, then passes every call on to ``inner``."""

    def __init__(
        self, inner: JobListener, metrics: Metrics, provider: str, *, degrades: bool = False
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._provider = provider
        # With degradation on, a failed slide ends as a marked placeholder, not an error.
        self._failed_outcome = "placeholder" if degrades else "error"

    async def on_started(self, job: Job, attempt: int) -> None:
        await self._inner.on_started(job, attempt)

    async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None:
        self._metrics.upstream_request(200, result.latency_s)
        self._metrics.slide_finished("done", self._provider, cost=result.cost)
        await self._inner.on_succeeded(job, result, attempt)

    async def on_retry(self, job: Job, error: ProviderError, delay: float, attempt: int) -> None:
        self._metrics.upstream_request(error.status or error.kind)
        self._metrics.retry(error.kind)
        await self._inner.on_retry(job, error, delay, attempt)

    async def on_failed(self, job: Job, error: ProviderError, attempt: int) -> None:
        self._metrics.upstream_request(error.status or error.kind)
        self._metrics.slide_finished(self._failed_outcome, self._provider)
        await self._inner.on_failed(job, error, attempt)

    async def on_dropped(self, job: Job, attempt: int) -> None:
        self._metrics.slide_finished("cancelled", self._provider)
        await self._inner.on_dropped(job, attempt)

    async def on_returned(self, job: Job, attempt: int) -> None:
        # Not an outcome (the slide starts again later): nothing to count.
        await self._inner.on_returned(job, attempt)
