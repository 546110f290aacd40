"""Cancel, retry, regenerate and events work whichever fleet process the client talks to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from slidebatch.config import load_settings
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import BatchStatus, SlideEvent
from slidebatch.scheduler.clock import SystemClock
from slidebatch.services import FleetRole, Services, build_services
from slidebatch.testing.scripted_provider import ScriptedProvider

pytestmark = pytest.mark.postgres


def _request(n: int, workers: int) -> BatchRequest:
    slides = tuple(
        Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}", "point", "") for i in range(1, n + 1)
    )
    return BatchRequest(slides, "flat", AspectRatio(16, 9), workers)


@pytest.fixture
async def two_processes(
    tmp_path: Path, postgres_url: str
) -> AsyncIterator[tuple[Services, Services]]:
    """An API process without a worker (first) and one with a worker (second), one database."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        database_url=postgres_url,
        fleet_poll_seconds=0.1,
    )
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(
            build_services(settings, fleet=FleetRole(api=True, worker=False))
        )
        provider = ScriptedProvider(SystemClock(), default_latency=0.2)
        worker = await stack.enter_async_context(
            build_services(settings, provider=provider, fleet=FleetRole(api=True, worker=True))
        )
        yield api, worker


async def test_cancel_and_retry_sent_to_another_process_than_the_worker(
    two_processes: tuple[Services, Services],
) -> None:
    """A cancel through the API process stops the batch the worker runs; a retry there runs
    the cancelled slides; the worker's process hears both ends."""
    api, worker = two_processes
    batch, _ = await api.engine.submit(_request(6, workers=1))
    async with api.engine.events.subscribe(batch.id) as stream:
        async for event in stream:
            if isinstance(event.data, SlideEvent) and event.data.slide.state == "done":
                break
    await api.engine.cancel(batch.id)
    ended = await asyncio.wait_for(worker.engine.wait(batch.id), 30)
    assert ended.state is BatchState.CANCELLED
    counts = await api.database.batches.slide_counts(batch.id)
    assert counts[SlideState.CANCELLED] >= 1
    assert await api.engine.retry_failed(batch.id) == counts[SlideState.CANCELLED]
    again = await asyncio.wait_for(worker.engine.wait(batch.id), 30)
    assert again.state is BatchState.COMPLETED


async def test_regenerate_through_one_process_streams_to_the_other(
    two_processes: tuple[Services, Services],
) -> None:
    """A regenerate sent to the worker's process: the API process's stream shows the slide
    generated again and the batch's end."""
    api, worker = two_processes
    batch, _ = await api.engine.submit(_request(2, workers=2))
    assert (await asyncio.wait_for(api.engine.wait(batch.id), 30)).state is BatchState.COMPLETED
    seen: list[object] = []
    async with api.engine.events.subscribe(batch.id) as stream:
        answer = await worker.engine.regenerate(batch.id, "s2", visual_desc="a new chart")
        assert answer.state is SlideState.PENDING
        async for event in stream:
            seen.append(event.data)
    slides = [d.slide for d in seen if isinstance(d, SlideEvent)]
    assert [s.state for s in slides if s.slide_id == "s2"][-1] == "done"
    assert isinstance(seen[-1], BatchStatus)
    assert seen[-1].status == "completed"
    stored = await api.database.batches.get_slide(batch.id, 1)
    assert stored.slide.visual_desc == "a new chart"
