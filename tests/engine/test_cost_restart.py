"""A batch's ``max_cost`` is stored with it: a restarted process stops it at the same cap."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from slidebatch.config import Settings, load_settings
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.providers.local import LocalRenderer
from slidebatch.services import build_services
from slidebatch.storage.repository import BatchRepository

PRICE = 0.25


class PricedProvider:
    """The offline renderer reporting ``usage.cost``; past ``hang_after`` calls it hangs (a
    process about to die)."""

    def __init__(self, *, hang_after: int | None = None) -> None:
        self._local = LocalRenderer(long_side=64)
        self._hang_after = hang_after
        self.calls = 0
        self.hanging = asyncio.Event()  # set once a call hangs
        self.stopped = asyncio.Event()  # set once the hanging call is cancelled (the stop)

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
            try:
                await asyncio.Event().wait()  # cancelled when the process stops
            except asyncio.CancelledError:
                self.stopped.set()
                raise
        result = await self._local.generate(request)
        return dataclasses.replace(result, cost=PRICE)


def _settings(tmp_path: Path, *, rpm: int | None = None) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        image_provider="local",
        upstream_price_per_image=0.1,
        batch_default_workers=1,
        upstream_rpm=rpm,
    )


def _request(slides: int, max_cost: float | None) -> BatchRequest:
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
@pytest.mark.parametrize("rpm", [None, 100])
async def test_a_restarted_server_still_stops_the_batch_at_its_max_cost(
    tmp_path: Path, rpm: int | None
) -> None:
    """2 of 8 images paid (0.5), then a restart: the resumed batch stops before passing 1.0.

    With the limit configured the gate starts the next slide as soon as the place is free,
    without the probe's spacing: it must not start while the cancel waits for the database.
    """
    settings = _settings(tmp_path, rpm=rpm)
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


@pytest.mark.asyncio
async def test_an_image_received_before_the_stop_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second paid image is still being stored when the process stops: it is kept.

    The dispatcher frees a slide's place as its image arrives, so the next request (the one
    that hangs) starts while that image is being stored. Here the store of the second image
    is held until the stop has cancelled the hanging request: the stop must wait for it,
    not cancel it (it used to: 0.25 paid and lost, and paid again after the restart).
    No max_cost: a capped batch's image keeps its place until its cost is stored, so that
    overlap does not happen there.
    """
    settings = _settings(tmp_path)
    first = PricedProvider(hang_after=2)
    real_mark_done = BatchRepository.mark_done
    stores = 0

    async def mark_done(self: BatchRepository, batch_id: str, key: int, **values: Any) -> None:
        nonlocal stores
        stores += 1
        if stores == 2:  # the second image: stored only once the process is stopping
            await first.stopped.wait()
        await real_mark_done(self, batch_id, key, **values)

    monkeypatch.setattr(BatchRepository, "mark_done", mark_done)
    async with build_services(settings, provider=first) as services:
        batch, _ = await services.engine.submit(_request(8, max_cost=None))
        await asyncio.wait_for(first.hanging.wait(), 10)
    assert first.stopped.is_set()
    monkeypatch.setattr(BatchRepository, "mark_done", real_mark_done)
    later = PricedProvider(hang_after=0)  # the restart pays nothing before we look
    async with build_services(settings, provider=later) as services:
        slides = await services.database.batches.get_slides(batch.id)
    done = [s for s in slides if s.state is SlideState.DONE]
    assert len(done) == 2
    assert sum(s.cost or 0.0 for s in done) == pytest.approx(2 * PRICE)
    assert all(s.image_file for s in done)
