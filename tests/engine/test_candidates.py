"""Candidates rounds in the engine: N distinct images kept in order, the last one shown."""

from __future__ import annotations

import asyncio
import io
import random
from pathlib import Path

import pytest
from PIL import Image

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.estimate import UpstreamFigures
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import BatchStatus, SlideEvent
from slidebatch.engine.batch_engine import BatchEngine, EngineLimits
from slidebatch.engine.events import BatchEvent, EventBus
from slidebatch.observability.pipeline_log import PipelineLog
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.dispatcher import Dispatcher
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.storage.database import Database
from slidebatch.storage.images import ImageStore


class CountingProvider:
    """A different 16:9 PNG on every call (its colour counts the calls)."""

    name = "counting"
    credential_id = "counting"

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, request: ImageRequest) -> ImageResult:
        self.calls += 1
        out = io.BytesIO()
        Image.new("RGB", (64, 36), (self.calls * 40 % 256, 90, 120)).save(out, "PNG")
        return ImageResult(out.getvalue(), "image/png", 64, 36, latency_s=0.0)


def _engine(
    tmp_path: Path, database: Database, provider: CountingProvider, events: EventBus
) -> BatchEngine:
    clock = SystemClock()
    log = PipelineLog(tmp_path / "logs")
    policy = RetryPolicy(
        max_attempts=2, max_requeues=2, base=0.001, cap=0.002, rng=random.Random(1)
    )
    return BatchEngine(
        repo=database.batches,
        images=ImageStore(tmp_path / "images"),
        provider_name=provider.name,
        dispatcher=Dispatcher(
            provider,
            Gate(GateConfig(rate=None, max_in_flight=4), clock=clock),
            policy,
            clock=clock,
            attempt_timeout=5,
            log=log,
        ),
        limits=EngineLimits(max_concurrent=2, max_workers=4, default_workers=None),
        log=log,
        events=events,
        clock=clock,
        figures=lambda: UpstreamFigures(rate=None, window=60, latency=1.0),
    )


async def test_regenerate_with_candidates_keeps_every_round(
    tmp_path: Path, database_url: str
) -> None:
    """candidates=3: three more calls, three distinct stored candidates, the last one shown."""
    provider = CountingProvider()
    database = await Database.open(database_url)
    engine = _engine(tmp_path, database, provider, EventBus())
    await engine.start()
    try:
        slides = (Slide("a", 1, SlideType.COVER, "Cover"), Slide("b", 2, SlideType.CONTENT, "B"))
        batch, _ = await engine.submit(BatchRequest(slides, "teal", AspectRatio(16, 9)))
        await asyncio.wait_for(engine.wait(batch.id), 10)
        await engine.regenerate(batch.id, "b", candidates=3)
        repo = database.batches
        key = await repo.find_slide_key(batch.id, "b")
        for _ in range(500):
            if len(await repo.candidates(batch.id, key)) == 3:
                break
            await asyncio.sleep(0.01)
        record = await asyncio.wait_for(engine.wait(batch.id), 10)
        found = await repo.candidates(batch.id, key)
        slide = await repo.get_slide(batch.id, key)
        chosen = await repo.choose_candidate(batch.id, key, found[0])
    finally:
        await engine.stop()
        await database.close()
    assert record.state is BatchState.COMPLETED
    assert provider.calls == 2 + 3
    assert [c.seq for c in found] == [1, 2, 3]
    assert len({c.image_file for c in found}) == 3
    assert slide.image_file == found[-1].image_file
    assert chosen.image_file == found[0].image_file
    assert all((tmp_path / "images" / batch.id / c.image_file).is_file() for c in found)


class CountingBus(EventBus):
    """Notes, as each "done" event of slide "b" goes out, how many candidates were stored."""

    def __init__(self, stored: list[str]) -> None:
        super().__init__()
        self.stored = stored
        self.seen: list[int] = []

    def publish(self, batch_id: str, data: SlideEvent | BatchStatus) -> BatchEvent:
        slide = data.slide if isinstance(data, SlideEvent) else None
        if slide is not None and slide.slide_id == "b" and slide.state is SlideState.DONE:
            self.seen.append(len(self.stored))
        return super().publish(batch_id, data)


async def test_each_rounds_done_event_goes_out_after_its_candidate_is_stored(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page lists the candidates when it hears "done": that round's image must be listed.

    The last round brings no later event, so a "done" sent before the image was stored left
    the page showing 2 of 3 candidates for good.
    """
    database = await Database.open(database_url)
    stored: list[str] = []
    add = database.batches.add_candidate

    async def adding(batch_id: str, key: int, image_file: str) -> int:
        number = await add(batch_id, key, image_file)
        stored.append(image_file)
        return number

    monkeypatch.setattr(database.batches, "add_candidate", adding)
    bus = CountingBus(stored)
    engine = _engine(tmp_path, database, CountingProvider(), bus)
    await engine.start()
    try:
        slides = (Slide("a", 1, SlideType.COVER, "Cover"), Slide("b", 2, SlideType.CONTENT, "B"))
        batch, _ = await engine.submit(BatchRequest(slides, "teal", AspectRatio(16, 9)))
        await asyncio.wait_for(engine.wait(batch.id), 10)
        async with bus.subscribe(batch.id):  # events are only read and sent to a listener
            await engine.regenerate(batch.id, "b", candidates=3)
            for _ in range(500):
                if len(bus.seen) == 3:
                    break
                await asyncio.sleep(0.01)
            await asyncio.wait_for(engine.wait(batch.id), 10)
    finally:
        await engine.stop()
        await database.close()
    assert bus.seen == [1, 2, 3]
