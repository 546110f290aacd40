"""Helpers of the scheduler tests: jobs, a recording listener, a dispatcher harness."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.errors import ProviderError
from slidebatch.providers.base import ImageProvider, ImageRequest, ImageResult
from slidebatch.scheduler.dispatcher import Dispatcher, Job
from slidebatch.scheduler.gate import Gate
from slidebatch.scheduler.phases import PhaseObserver, ignore_phase
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.memory_log import MemoryLog


def make_job(batch_id: str, key: int) -> Job:
    """A job whose slide id is ``batch_id/key`` (the scripted provider keys on it)."""
    slide = Slide(id=f"{batch_id}/{key}", page_num=key, type=SlideType.CONTENT, title=f"S{key}")
    request = ImageRequest(
        prompt=f"slide {key}", slide=slide, style_prompt="plain", aspect_ratio=AspectRatio(16, 9)
    )
    return Job(batch_id=batch_id, slide_key=key, request=request)


def make_jobs(batch_id: str, count: int) -> list[Job]:
    """``count`` jobs keyed 1..count."""
    return [make_job(batch_id, key) for key in range(1, count + 1)]


@dataclass
class Event:
    kind: str
    batch_id: str
    slide_key: int
    attempt: int
    at: float
    error: ProviderError | None = None
    delay: float | None = None


@dataclass
class RecordingListener:
    """Records every hook call with the clock time."""

    clock: FakeClock
    events: list[Event] = field(default_factory=list)

    async def on_started(self, job: Job, attempt: int) -> None:
        self.events.append(Event("started", job.batch_id, job.slide_key, attempt, self.clock.now()))

    async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None:
        self.events.append(Event("ok", job.batch_id, job.slide_key, attempt, self.clock.now()))

    async def on_retry(self, job: Job, error: ProviderError, delay: float, attempt: int) -> None:
        self.events.append(
            Event("retry", job.batch_id, job.slide_key, attempt, self.clock.now(), error, delay)
        )

    async def on_failed(self, job: Job, error: ProviderError, attempt: int) -> None:
        self.events.append(
            Event("failed", job.batch_id, job.slide_key, attempt, self.clock.now(), error)
        )

    async def on_dropped(self, job: Job, attempt: int) -> None:
        self.events.append(Event("dropped", job.batch_id, job.slide_key, attempt, self.clock.now()))

    async def on_returned(self, job: Job, attempt: int) -> None:
        self.events.append(
            Event("returned", job.batch_id, job.slide_key, attempt, self.clock.now())
        )

    def of(self, kind: str, batch_id: str | None = None) -> list[Event]:
        return [e for e in self.events if e.kind == kind and batch_id in (None, e.batch_id)]

    def finished_at(self, batch_id: str) -> float:
        """When the batch's last final event came."""
        final = {"ok", "failed", "dropped"}
        return max(e.at for e in self.events if e.batch_id == batch_id and e.kind in final)


def make_policy(
    *, max_attempts: int = 4, max_requeues: int = 30, base: float = 2.0, cap: float = 60.0
) -> RetryPolicy:
    """A seeded policy, so backoff delays are the same every run."""
    return RetryPolicy(max_attempts, max_requeues, base, cap, random.Random(7))


@asynccontextmanager
async def running(
    provider: ImageProvider,
    gate: Gate,
    listener: RecordingListener,
    *,
    clock: FakeClock,
    policy: RetryPolicy | None = None,
    attempt_timeout: float = 120.0,
    observe: PhaseObserver = ignore_phase,
) -> AsyncIterator[Dispatcher]:
    """A dispatcher whose loop runs for the duration of the block."""
    policy = policy or make_policy()
    dispatcher = Dispatcher(
        provider,
        gate,
        policy,
        clock=clock,
        attempt_timeout=attempt_timeout,
        log=MemoryLog(),
        observe=observe,
    )
    loop = asyncio.create_task(dispatcher.run(listener))
    try:
        yield dispatcher
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
