"""An API process of a fleet (no worker inside) serves the fleet's figures on /metrics."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fleet_services import StartFleet

from slidebatch.config import load_settings
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.scheduler.clock import SystemClock
from slidebatch.services import FleetRole, Services, build_services
from slidebatch.testing.scripted_provider import ScriptedProvider

pytestmark = pytest.mark.postgres


async def test_an_api_process_without_a_worker_shows_the_fleet_on_its_metrics(
    tmp_path: Path, postgres_url: str
) -> None:
    """slidebatch_fleet_workers counts the live worker of another process; the worker-labelled
    series stay on the worker's own /metrics (the README said every process had fleet series,
    and an API process had none)."""
    settings = load_settings(
        data_dir=tmp_path / "data", log_dir=tmp_path / "logs", database_url=postgres_url
    )
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(
            build_services(settings, fleet=FleetRole(api=True, worker=False))
        )
        await stack.enter_async_context(
            build_services(settings, fleet=FleetRole(api=False, worker=True))
        )
        body, _ = await api.render_metrics()
    text = body.decode()
    assert "slidebatch_fleet_workers 1.0" in text
    assert "slidebatch_fleet_slides_generating 0.0" in text
    assert "slidebatch_fleet_claims_total{" not in text


async def test_an_api_process_reads_the_shared_gate_for_its_figures(
    api_and_worker_services: StartFleet,
) -> None:
    """The gate figures of an API process (its /readyz, its estimates) follow the starts the
    worker made through the shared gate; they stayed as of the API process's start."""
    worker_provider = ScriptedProvider(SystemClock(), default_latency=0.01)
    api, _worker = await api_and_worker_services(worker_provider)
    slides = tuple(Slide(f"s{i}", i, SlideType.CONTENT, "T", "p", "") for i in (1, 2, 3))
    batch, _ = await api.engine.submit(BatchRequest(slides, "flat", AspectRatio(16, 9), 3))
    await asyncio.wait_for(api.engine.wait(batch.id), 30)
    await asyncio.wait_for(_until_requests(api, 3), 30)  # a third of a lease at most


async def _until_requests(api: Services, total: int) -> None:
    while True:
        if api.gate.stats().requests_total >= total:
            return
        await asyncio.sleep(0.05)
