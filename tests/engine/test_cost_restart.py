"""A batch's ``max_cost`` is stored with it: a restarted process stops it at the same cap."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from slidebatch.config import Settings, load_settings
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.providers.local import LocalRenderer
from slidebatch.services import build_services

PRICE = 0.25


class PricedProvider:
    """The offline renderer reporting ``usage.cost``; past ``hang_after`` calls it hangs (a
    process about to die)."""

    def __init__(self, *, hang_after: int | None = None) -> None:
        self._local = LocalRenderer(long_side=64)
        self._hang_after = hang_after
        self.calls = 0
        self.hanging = asyncio.Event()  # set once a call hangs

    @property
    def name(self) -> str:
        return "priced"

    @property
    def credential_id(self) -> str:
        return "priced-test"

    async def generate(self, request: ImageRequest) -> ImageResult:
        self.calls += 1
        if self._hang_after is not None and self.calls > self._hang_after:
            self.hanging.set()
            await asyncio.Event().wait()  # cancelled when the process stops
        result = await self._local.generate(request)
        return dataclasses.replace(result, cost=PRICE)


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="local",
        upstream_price_per_image=0.1,
        batch_default_workers=1,
    )


def _request(slides: int, max_cost: float) -> BatchRequest:
    deck = tuple(Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}") for i in range(1, slides + 1))
    return BatchRequest(slides=deck, style_prompt="navy", max_cost=max_cost)


async def _interrupted_batch(settings: Settings, *, paid: int, max_cost: float) -> str:
    """Submit an 8-slide batch, let ``paid`` images finish, then stop the process."""
    first = PricedProvider(hang_after=paid)
    async with build_services(settings, provider=first) as services:
        batch, _ = await services.engine.submit(_request(8, max_cost))
        await asyncio.wait_for(first.hanging.wait(), 10)
        stored = await services.database.batches.get_batch(batch.id)
        assert stored.max_cost == max_cost
    return batch.id


@pytest.mark.asyncio
async def test_a_restarted_server_still_stops_the_batch_at_its_max_cost(tmp_path: Path) -> None:
    """2 of 8 images paid (0.5), then a restart: the resumed batch stops before passing 1.0."""
    settings = _settings(tmp_path)
    batch_id = await _interrupted_batch(settings, paid=2, max_cost=1.0)
    second = PricedProvider()
    async with build_services(settings, provider=second) as services:
        batch = await asyncio.wait_for(services.engine.wait(batch_id), 10)
        slides = await services.database.batches.get_slides(batch_id)
    spent = sum(s.cost or 0.0 for s in slides)
    assert batch.state is BatchState.CANCELLED
    assert spent == pytest.approx(1.0)  # without the stored cap all 8 would run: 2.0
    assert second.calls == 2
    assert sum(s.state is SlideState.CANCELLED for s in slides) == 4


@pytest.mark.asyncio
async def test_a_batch_already_at_its_cap_pays_nothing_after_a_restart(tmp_path: Path) -> None:
    """The process died between the image that reached the cap and the cancel: no more paid."""
    settings = _settings(tmp_path)
    batch_id = await _interrupted_batch(settings, paid=2, max_cost=0.5)
    second = PricedProvider()
    async with build_services(settings, provider=second) as services:
        batch = await asyncio.wait_for(services.engine.wait(batch_id), 10)
    assert batch.state is BatchState.CANCELLED
    assert second.calls == 0
