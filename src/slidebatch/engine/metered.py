"""Counting what the dispatcher reports, for ``/metrics``, without touching the engine's logic."""

from __future__ import annotations

from slidebatch.errors import ProviderError
from slidebatch.observability.metrics import Metrics
from slidebatch.providers.base import ImageResult
from slidebatch.scheduler.dispatcher import JobListener
from slidebatch.scheduler.job import Job


class MeteredListener:
    """A ``JobListener`` that records metrics, then passes every call on to ``inner``."""

    def __init__(self, inner: JobListener, metrics: Metrics, provider: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._provider = provider

    async def on_started(self, job: Job, attempt: int) -> None:
        await self._inner.on_started(job, attempt)

    async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None:
        self._metrics.upstream_request(200, result.latency_s)
        outcome = "placeholder" if result.placeholder else "done"
        self._metrics.slide_finished(outcome, self._provider, cost=result.cost)
        await self._inner.on_succeeded(job, result, attempt)

    async def on_retry(self, job: Job, error: ProviderError, delay: float, attempt: int) -> None:
        self._metrics.upstream_request(error.status or error.kind)
        self._metrics.retry(error.kind)
        await self._inner.on_retry(job, error, delay, attempt)

    async def on_failed(self, job: Job, error: ProviderError, attempt: int) -> None:
        self._metrics.upstream_request(error.status or error.kind)
        self._metrics.slide_finished("error", self._provider)
        await self._inner.on_failed(job, error, attempt)
