"""A fleet answers as one process does: candidates, anchor mode and max_cost.

Two processes on one fresh PostgreSQL database: an API process without a worker (where the
commands are sent) and a process with a worker inside (which makes the images).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import text

from slidebatch.api.schemas import BatchStatusOut
from slidebatch.config import load_settings
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.look import Look, check_reference
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import SlideEvent
from slidebatch.errors import Conflict
from slidebatch.fleet.engine import FleetEngine
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.services import FleetRole, Services, build_services

pytestmark = pytest.mark.postgres

PRICE = 0.25


@dataclass
class Seen:
    """One call as the provider saw it: the slide and the input images it carried."""

    slide_id: str
    references: tuple[bytes, ...]


@dataclass
class PricedProvider:
    """A different PNG on every call, reporting ``usage.cost`` = PRICE; ``gate`` (when set)
    holds every call (of the ``gate_only`` slides) until it is set."""

    calls: list[Seen] = field(default_factory=list)
    gate: asyncio.Event | None = None
    gate_only: set[str] | None = None  # the slide ids ``gate`` holds (None: every one)
    holding: asyncio.Event = field(default_factory=asyncio.Event)  # a call waits on ``gate``
    name: str = "priced"
    credential_id: str = "priced-fleet-test"

    async def generate(self, request: ImageRequest) -> ImageResult:
        self.calls.append(Seen(request.slide.id, request.reference_images))
        if self.gate is not None and (self.gate_only is None or request.slide.id in self.gate_only):
            self.holding.set()
            await self.gate.wait()
        out = io.BytesIO()
        Image.new("RGB", (64, 36), (len(self.calls) * 40 % 256, 90, 120)).save(out, "PNG")
        return ImageResult(out.getvalue(), "image/png", 64, 36, latency_s=0.0, cost=PRICE)


@dataclass
class Fleet:
    api: Services
    worker: Services
    provider: PricedProvider


@pytest.fixture
async def fleet(tmp_path: Path, postgres_url: str) -> AsyncIterator[Fleet]:
    async with _fleet(tmp_path, postgres_url, PRICE) as started:
        yield started


@asynccontextmanager
async def _fleet(tmp_path: Path, postgres_url: str, price: float | None) -> AsyncIterator[Fleet]:
    """An API process and a worker process on ``postgres_url``, ``price`` configured."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        database_url=postgres_url,
        fleet_poll_seconds=0.1,
        upstream_price_per_image=price,
    )
    provider = PricedProvider()
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(
            build_services(settings, provider=provider, fleet=FleetRole(api=True, worker=False))
        )
        worker = await stack.enter_async_context(
            build_services(settings, provider=provider, fleet=FleetRole(api=True, worker=True))
        )
        yield Fleet(api, worker, provider)


def _request(n: int, *, workers: int = 1, **extra: object) -> BatchRequest:
    slides = tuple(
        Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}", "point", "") for i in range(1, n + 1)
    )
    return BatchRequest(slides, "flat", AspectRatio(16, 9), workers, **extra)  # type: ignore[arg-type]


def _done(data: object, slide_id: str) -> bool:
    return (
        isinstance(data, SlideEvent)
        and data.slide.slide_id == slide_id
        and data.slide.state is SlideState.DONE
    )


async def _finished(services: Services, batch_id: str) -> BatchState:
    return (await asyncio.wait_for(services.engine.wait(batch_id), 30)).state


async def test_candidates_run_on_a_fleet_as_in_one_process(fleet: Fleet) -> None:
    """regenerate(candidates=3) through the API process: three more images made by the
    worker, three distinct candidates in order, the last shown and the only one chosen, the
    slide's "done" heard once all three are listed, four images in its spend; a pick shows
    the first (it used to be refused with "not available on a fleet")."""
    api = fleet.api
    repo = api.database.batches
    batch, _ = await api.engine.submit(_request(2))
    assert await _finished(api, batch.id) is BatchState.COMPLETED
    listed_on_done: list[int] = []
    async with api.engine.events.subscribe(batch.id) as stream:
        answer = await api.engine.regenerate(batch.id, "s2", candidates=3)
        assert answer.state is SlideState.PENDING
        async for event in stream:
            data = event.data
            if _done(data, "s2"):
                listed_on_done.append(len(await repo.candidates(batch.id, 1)))
    found = await repo.candidates(batch.id, 1)
    slide = await repo.get_slide(batch.id, 1)
    picked = await repo.choose_candidate(batch.id, 1, found[0])
    assert await _finished(api, batch.id) is BatchState.COMPLETED
    assert [c.slide_id for c in fleet.provider.calls] == ["s1", "s2", "s2", "s2", "s2"]
    assert listed_on_done
    assert set(listed_on_done) == {3}
    assert [c.seq for c in found] == [1, 2, 3]
    assert len({c.image_file for c in found}) == 3
    assert [c.chosen for c in found] == [False, False, True]
    assert slide.image_file == found[-1].image_file
    assert slide.spent == pytest.approx(4 * PRICE)
    assert picked.image_file == found[0].image_file


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 18), colour).save(out, "PNG")
    return out.getvalue()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):  # a bound only a hung fleet reaches
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_anchor_mode_holds_the_other_slides_until_the_cover_is_drawn(fleet: Fleet) -> None:
    """Anchor mode on a fleet, 4 workers allowed: while the cover is being drawn no other
    slide can be claimed (they used to go at once, without it); then every other slide goes
    with the batch's reference and the cover's stored image."""
    api, provider = fleet.api, fleet.provider
    provider.gate = asyncio.Event()
    reference = check_reference(_png((10, 20, 30)))
    cover = Slide("cover", 1, SlideType.COVER, "Cover")
    others = tuple(Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}") for i in range(2, 5))
    look = Look(references=(reference,), anchor=True)
    request = BatchRequest((cover, *others), "flat", AspectRatio(16, 9), 4, look=look)
    batch, _ = await api.engine.submit(request)
    await _until(lambda: len(provider.calls) == 1)
    assert isinstance(api.engine, FleetEngine)
    store = api.engine.store
    assert not await store.claimable()
    assert await store.claim("probe", lease=5, at=batch.created_at) is None
    provider.gate.set()
    assert await _finished(api, batch.id) is BatchState.COMPLETED
    drawn = await api.database.batches.get_slide(batch.id, 0)
    assert drawn.image_file is not None
    cover_bytes = (api.images.path(batch.id, drawn.image_file)).read_bytes()
    assert provider.calls[0] == Seen("cover", (reference.data,))
    assert sorted(c.slide_id for c in provider.calls[1:]) == ["s2", "s3", "s4"]
    assert {c.references for c in provider.calls[1:]} == {(reference.data, cover_bytes)}


async def test_max_cost_stops_a_fleet_batch_before_it_passes_the_cap(fleet: Fleet) -> None:
    """8 slides at 0.25 each under a 1.0 cap, 8 at a time, submitted as the API does: the
    fleet pays for exactly 4 images and cancels the rest (it used to pay 5 or 6: the API
    process's guard heard the worker's starts too late); a regenerate past the cap is a
    Conflict that changes nothing, and a retry of the cancelled slides pays nothing more."""
    api = fleet.api
    batch, _ = await api.engine.submit(_request(8, workers=8, max_cost=1.0))
    api.guard_cost(batch.id, 1.0, await api.unit_cost())
    assert await _finished(api, batch.id) is BatchState.CANCELLED
    slides = await api.database.batches.get_slides(batch.id)
    assert len(fleet.provider.calls) == 4
    assert sum(s.spent or 0.0 for s in slides) == pytest.approx(1.0)
    assert [s.state for s in slides].count(SlideState.CANCELLED) == 4
    status = await api.engine.read.status(batch.id)
    assert status.stop_reason == "max_cost"  # not a user's cancel
    assert BatchStatusOut.of(status).model_dump()["stop_reason"] == "max_cost"
    async with api.database.engine.connect() as connection:
        held = await connection.execute(
            text("SELECT count(*) FROM slides WHERE batch_id = :b AND lease_owner IS NOT NULL"),
            {"b": batch.id},
        )
    assert held.scalar() == 0  # no claim kept
    done = next(s for s in slides if s.state is SlideState.DONE)
    with pytest.raises(Conflict, match="max_cost"):
        await api.engine.regenerate(batch.id, done.slide.id)
    assert (await api.database.batches.get_slide(batch.id, done.key)).state is SlideState.DONE
    assert await api.engine.retry_failed(batch.id) == 4
    assert await _finished(api, batch.id) is BatchState.CANCELLED
    assert len(fleet.provider.calls) == 4


@pytest.mark.parametrize(("max_cost", "fits"), [(1.0, True), (0.9, False)])
async def test_regenerate_on_a_running_capped_batch_counts_what_is_pending_and_in_flight(
    fleet: Fleet, max_cost: float, fits: bool
) -> None:
    """3 slides at 0.25, one at a time: s1 done, s2 in flight, s3 pending, then s1 is
    regenerated. Under a 1.0 cap (4 images fit) the batch completes with every slide; under
    0.9 the regenerate is a Conflict that changes nothing and the batch completes too. It
    used to be accepted (only the paid image was counted) and the last claim then cancelled
    a slide at the cap."""
    api, provider = fleet.api, fleet.provider
    held = asyncio.Event()
    provider.gate = held
    provider.gate_only = {"s2"}
    batch, _ = await api.engine.submit(_request(3, workers=1, max_cost=max_cost))
    await asyncio.wait_for(provider.holding.wait(), 30)  # s1 done (one at a time), s2 held
    if fits:
        await api.engine.regenerate(batch.id, "s1")
    else:
        with pytest.raises(Conflict, match="max_cost"):
            await api.engine.regenerate(batch.id, "s1")
    held.set()
    assert await _finished(api, batch.id) is BatchState.COMPLETED
    slides = await api.database.batches.get_slides(batch.id)
    assert [s.state for s in slides] == [SlideState.DONE] * 3
    assert len(provider.calls) == (4 if fits else 3)


async def test_a_fleet_prices_in_flight_images_at_what_the_first_one_cost(
    tmp_path: Path, postgres_url: str
) -> None:
    """Configured at 0.05 but charged 0.25, 8 slides 8 at a time under a 1.0 cap: the first
    claim's image goes alone, its cost prices the rest (3 more fit): 4 paid, 1.0 (it used to
    claim all 8 at the configured price: 2.0)."""
    async with _fleet(tmp_path, postgres_url, 0.05) as fleet:
        api = fleet.api
        batch, _ = await api.engine.submit(_request(8, workers=8, max_cost=1.0))
        assert await _finished(api, batch.id) is BatchState.CANCELLED
        slides = await api.database.batches.get_slides(batch.id)
        assert len(fleet.provider.calls) == 4
        assert sum(s.spent or 0.0 for s in slides) == pytest.approx(1.0)
        assert (await api.engine.read.status(batch.id)).stop_reason == "max_cost"
