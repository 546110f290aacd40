"""The metrics listener counts what the dispatcher reports and passes every call on."""

from __future__ import annotations

from dataclasses import dataclass, field

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.engine.metered import MeteredListener
from slidebatch.errors import PermanentProviderError, RateLimited
from slidebatch.observability.metrics import Metrics
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.scheduler.job import Job

JOB = Job(
    "b" * 32, 0, ImageRequest("p", Slide("s", 1, SlideType.COVER, "t"), "", AspectRatio(16, 9))
)


@dataclass
class Recorder:
    calls: list[str] = field(default_factory=list)

    async def on_started(self, job: Job, attempt: int) -> None:
        self.calls.append("started")

    async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None:
        self.calls.append("succeeded")

    async def on_retry(self, job: Job, error: object, delay: float, attempt: int) -> None:
        self.calls.append("retry")

    async def on_failed(self, job: Job, error: object, attempt: int) -> None:
        self.calls.append("failed")

    async def on_dropped(self, job: Job, attempt: int) -> None:
        self.calls.append("dropped")

    async def on_returned(self, job: Job, attempt: int) -> None:
        self.calls.append("returned")


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_outcomes_are_counted_and_forwarded() -> None:
    """Successes, retries, failures and drops reach the inner listener and the counters."""
    inner, metrics = Recorder(), Metrics()
    listener = MeteredListener(inner, metrics, "fake")
    await listener.on_started(JOB, 1)
    await listener.on_retry(JOB, RateLimited("slow down"), 1.0, 1)
    await listener.on_succeeded(JOB, ImageResult(b"", "image/png", 1, 1, 0.5, cost=0.1), 2)
    await listener.on_failed(JOB, PermanentProviderError("no"), 1)
    await listener.on_dropped(JOB, 1)
    await listener.on_returned(JOB, 1)
    assert inner.calls == ["started", "retry", "succeeded", "failed", "dropped", "returned"]
    assert _sample(metrics, "slidebatch_slides_total", outcome="done", provider="fake") == 1
    assert _sample(metrics, "slidebatch_slides_total", outcome="cancelled", provider="fake") == 1
    assert _sample(metrics, "slidebatch_slides_total", outcome="error", provider="fake") == 1
    assert _sample(metrics, "slidebatch_retries_total", reason="rate_limited") == 1
    assert _sample(metrics, "slidebatch_upstream_requests_total", status="429") == 1
    assert _sample(metrics, "slidebatch_cost_usd_total") == 0.1


async def test_failures_count_as_placeholders_when_degradation_is_on() -> None:
    """With degradation on, a failed slide is counted as a placeholder, not an error."""
    metrics = Metrics()
    listener = MeteredListener(Recorder(), metrics, "fake", degrades=True)
    await listener.on_failed(JOB, PermanentProviderError("no"), 1)
    assert _sample(metrics, "slidebatch_slides_total", outcome="placeholder", provider="fake") == 1
    assert _sample(metrics, "slidebatch_slides_total", outcome="error", provider="fake") == 0
