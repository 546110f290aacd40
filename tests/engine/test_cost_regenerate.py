"""Every paid image counts: regenerated slides and candidates add to the batch's spend, its
``max_cost`` and the owner's daily spend, while a slide's ``cost`` stays its latest price."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from slidebatch.config import Settings, load_settings
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.runs import completion_summary
from slidebatch.errors import Conflict
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.providers.local import LocalRenderer
from slidebatch.services import Services, build_services
from slidebatch.storage.keys import UsageRepository

PRICE = 0.25


class PricedProvider:
    """The offline renderer reporting ``usage.cost`` = PRICE for each image."""

    name = "priced"
    credential_id = "priced-test"

    def __init__(self) -> None:
        self._local = LocalRenderer(long_side=64)
        self.calls = 0

    async def generate(self, request: ImageRequest) -> ImageResult:
        self.calls += 1
        result = await self._local.generate(request)
        return dataclasses.replace(result, cost=PRICE)


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="local",
        upstream_price_per_image=PRICE,
        batch_default_workers=1,
    )


def _request(slides: int, max_cost: float | None = None) -> BatchRequest:
    deck = tuple(Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}") for i in range(1, slides + 1))
    return BatchRequest(slides=deck, style_prompt="navy", max_cost=max_cost)


async def _regenerate(services: Services, batch_id: str, slide_id: str) -> None:
    await services.engine.regenerate(batch_id, slide_id, owner="k1")
    await asyncio.wait_for(services.engine.wait(batch_id), 10)


async def test_regenerating_twice_costs_three_images(tmp_path: Path) -> None:
    """One slide, regenerated twice: 3 images paid; every batch figure says 3 x PRICE, the
    slide's cost stays one image's price; the owner's daily spend counts the replaced ones."""
    provider = PricedProvider()
    async with build_services(_settings(tmp_path), provider=provider) as services:
        batch, _ = await services.engine.submit(_request(1), owner="k1")
        await asyncio.wait_for(services.engine.wait(batch.id), 10)
        await _regenerate(services, batch.id, "s1")
        await _regenerate(services, batch.id, "s1")
        status = await services.engine.read.status(batch.id)
        record, slides = await services.database.batches.get_batch_with_slides(batch.id)
        usage = UsageRepository.on(services.database)
        costs = await usage.batch_costs([batch.id])
        today = await usage.spend_since("k1", batch.created_at - timedelta(hours=1))
    assert provider.calls == 3
    [slide] = status.results or ()
    assert slide.cost == PRICE  # the price of the image shown
    assert slide.spent == pytest.approx(3 * PRICE)
    assert costs == {batch.id: pytest.approx(3 * PRICE)}
    assert today == pytest.approx(3 * PRICE)
    assert completion_summary(record, slides)["cost"] == pytest.approx(3 * PRICE)


async def test_max_cost_refuses_a_regenerate_that_would_pass_it(tmp_path: Path) -> None:
    """2 slides under a 1.0 cap: two regenerates reach 1.0 (4 images); a third is refused
    with a Conflict naming max_cost before anything changes: the slide keeps its image and
    the batch stays completed (it used to be reset, then cancelled by the guard)."""
    provider = PricedProvider()
    async with build_services(_settings(tmp_path), provider=provider) as services:
        batch, _ = await services.engine.submit(_request(2, max_cost=1.0), owner="k1")
        await asyncio.wait_for(services.engine.wait(batch.id), 10)
        await _regenerate(services, batch.id, "s1")
        await _regenerate(services, batch.id, "s2")
        assert provider.calls == 4
        before = await services.database.batches.get_slides(batch.id)
        with pytest.raises(Conflict, match="max_cost"):
            await services.engine.regenerate(batch.id, "s1", owner="k1")
        with pytest.raises(Conflict, match=r"3 image\(s\)"):
            await services.engine.regenerate(batch.id, "s2", owner="k1", candidates=3)
        status = await services.engine.read.status(batch.id)
        slides = await services.database.batches.get_slides(batch.id)
    assert provider.calls == 4  # counting only the last images (0.5) it would have paid
    assert status.status is BatchState.COMPLETED
    assert [s.state for s in slides] == [SlideState.DONE, SlideState.DONE]
    assert [s.image_file for s in slides] == [s.image_file for s in before]
    assert sum(s.spent or 0.0 for s in slides) == pytest.approx(1.0)


async def test_candidates_that_fit_the_cap_are_made(tmp_path: Path) -> None:
    """1 slide under a 1.0 cap after one image (0.25): 3 candidates (0.75) still fit."""
    provider = PricedProvider()
    async with build_services(_settings(tmp_path), provider=provider) as services:
        batch, _ = await services.engine.submit(_request(1, max_cost=1.0), owner="k1")
        await asyncio.wait_for(services.engine.wait(batch.id), 10)
        await services.engine.regenerate(batch.id, "s1", owner="k1", candidates=3)
        for _ in range(500):  # the rounds run one after the other
            if len(await services.database.batches.candidates(batch.id, 0)) == 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(services.engine.wait(batch.id), 10)
    assert provider.calls == 4


async def test_three_candidates_count_three_images(tmp_path: Path) -> None:
    """regenerate(candidates=3) after the first image: 4 images paid for the slide."""
    provider = PricedProvider()
    async with build_services(_settings(tmp_path), provider=provider) as services:
        batch, _ = await services.engine.submit(_request(1), owner="k1")
        await asyncio.wait_for(services.engine.wait(batch.id), 10)
        await services.engine.regenerate(batch.id, "s1", owner="k1", candidates=3)
        for _ in range(500):  # the rounds run one after the other
            if len(await services.database.batches.candidates(batch.id, 0)) == 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(services.engine.wait(batch.id), 10)
        candidates = await services.database.batches.candidates(batch.id, 0)
        costs = await UsageRepository.on(services.database).batch_costs([batch.id])
    assert provider.calls == 4
    assert len(candidates) == 3
    assert costs == {batch.id: pytest.approx(4 * PRICE)}
