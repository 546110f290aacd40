"""Reference images reach every slide's request, through the real providers and the fake."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.estimate import UpstreamFigures
from slidebatch.core.look import Look, check_reference
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState
from slidebatch.engine.batch_engine import BatchEngine, EngineLimits
from slidebatch.engine.events import EventBus
from slidebatch.observability.pipeline_log import PipelineLog
from slidebatch.providers.gemini import GeminiProvider
from slidebatch.providers.openai_images import OpenAIImagesProvider
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.providers.remote import RemoteProvider
from slidebatch.render import render_slide
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.dispatcher import Dispatcher
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.storage.database import Database
from slidebatch.storage.images import ImageStore
from slidebatch.testing.fake_shapes import image_digest
from slidebatch.testing.fake_upstream import FakeUpstream, FakeUpstreamConfig, create_fake_upstream

KEY = "sk-test-looks"
REMOTE: dict[str, tuple[type[RemoteProvider], str]] = {
    "openrouter": (OpenRouterProvider, "/api/v1"),
    "gemini": (GeminiProvider, "/v1beta"),
    "openai": (OpenAIImagesProvider, "/v1"),
}
FAST = FakeUpstreamConfig(rpm=None, latency_median=0.0, latency_p95=0.0, expected_api_key=KEY)
REFERENCE = render_slide(
    Slide("r", 1, SlideType.COVER, "Reference"), "teal", AspectRatio(16, 9), long_side=96
)


@dataclass
class Rig:
    engine: BatchEngine
    fake: FakeUpstream
    database: Database


@asynccontextmanager
async def rig(name: str, tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    """An engine whose provider talks to the fake upstream in-process."""
    app = create_fake_upstream(FAST)
    cls, prefix = REMOTE[name]
    clock = SystemClock()
    database = await Database.open(database_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        provider = cls(client, api_key=KEY, base_url=f"http://fake{prefix}", model="m")
        log = PipelineLog(tmp_path / "logs")
        gate = Gate(GateConfig(rate=None, max_in_flight=4), clock=clock)
        policy = RetryPolicy(
            max_attempts=2, max_requeues=2, base=0.001, cap=0.002, rng=random.Random(1)
        )
        engine = BatchEngine(
            repo=database.batches,
            images=ImageStore(tmp_path / "images"),
            provider_name=provider.name,
            dispatcher=Dispatcher(provider, gate, policy, clock=clock, attempt_timeout=5, log=log),
            limits=EngineLimits(max_concurrent=4, max_workers=4, default_workers=None),
            log=log,
            events=EventBus(),
            clock=clock,
            figures=lambda: UpstreamFigures(rate=None, window=60, latency=1.0),
        )
        await engine.start()
        try:
            yield Rig(engine, app.state.fake, database)
        finally:
            await engine.stop()
            await database.close()


NO_LOOK = Look()


def deck(n: int, look: Look = NO_LOOK) -> BatchRequest:
    slides = tuple(
        Slide(f"s{i}", i, SlideType.COVER if i == 1 else SlideType.CONTENT, f"Slide {i}", "a")
        for i in range(1, n + 1)
    )
    return BatchRequest(slides, "deep blue", AspectRatio(16, 9), look=look)


async def run(rig: Rig, request: BatchRequest) -> str:
    batch, _ = await rig.engine.submit(request)
    record = await asyncio.wait_for(rig.engine.wait(batch.id), 20)
    assert record.state is BatchState.COMPLETED
    return batch.id


@pytest.mark.parametrize("name", ["openrouter", "gemini"])
async def test_every_slide_request_carries_the_reference(
    name: str, tmp_path: Path, database_url: str
) -> None:
    """With a reference, each of the deck's requests sent exactly its bytes; without, none."""
    reference = check_reference(REFERENCE)
    async with rig(name, tmp_path, database_url) as r:
        await run(r, deck(5, Look(references=(reference,))))
        with_ref = [row["input_images"] for row in r.fake.stats.snapshot()["requests"]]
        r.fake.reset_stats()
        await run(r, deck(5))
        without = [row["input_images"] for row in r.fake.stats.snapshot()["requests"]]
    assert with_ref == [[image_digest(REFERENCE)]] * 5
    assert without == [[]] * 5


async def test_anchor_mode_sends_the_covers_bytes(tmp_path: Path, database_url: str) -> None:
    """Anchor mode: the cover goes first, alone; every other slide carries its stored image."""
    reference = check_reference(REFERENCE)
    async with rig("openrouter", tmp_path, database_url) as r:
        batch_id = await run(r, deck(4, Look(references=(reference,), anchor=True)))
        slides = await r.database.batches.get_slides(batch_id)
        cover = slides[0]
        assert cover.image_file is not None
        cover_bytes = r.engine.images.path(batch_id, cover.image_file).read_bytes()
        rows = r.fake.stats.snapshot()["requests"]
    first, rest = rows[0], rows[1:]
    assert first["input_images"] == [image_digest(REFERENCE)]
    assert len(rest) == 3
    # The others started only after the cover's answer, and carry its bytes.
    assert all(row["arrival"] >= first["end"] for row in rest)
    assert all(
        row["input_images"] == [image_digest(REFERENCE), image_digest(cover_bytes)] for row in rest
    )


async def test_openai_images_warns_that_references_are_not_sent(
    tmp_path: Path, database_url: str
) -> None:
    """OpenAI images/generations takes no input image: the slide says it was not sent."""
    reference = check_reference(REFERENCE)
    async with rig("openai", tmp_path, database_url) as r:
        batch_id = await run(r, deck(2, Look(references=(reference,))))
        slides = await r.database.batches.get_slides(batch_id)
    assert all(any("reference" in w for w in s.warnings) for s in slides)


async def test_the_look_is_stored_with_the_batch(tmp_path: Path, database_url: str) -> None:
    """References and anchor mode survive in the database (a restart resumes with them)."""
    reference = check_reference(REFERENCE)
    database = await Database.open(database_url)
    try:
        repo = database.batches
        batch, _ = await repo.create_batch(
            request=deck(2, Look(references=(reference,), anchor=True)),
            final_prompts=["a", "b"],
            effective_workers=None,
            owner=None,
            idempotency_key=None,
        )
        plain, _ = await repo.create_batch(
            request=deck(2),
            final_prompts=["a", "b"],
            effective_workers=None,
            owner=None,
            idempotency_key=None,
        )
        look = await repo.get_look(batch.id)
        assert look == Look(references=(reference,), anchor=True, anchor_key=0)
        assert await repo.get_look(plain.id) == Look()
        await repo.delete_batch(batch.id)
        assert await repo.get_look(batch.id) == Look()
    finally:
        await database.close()
