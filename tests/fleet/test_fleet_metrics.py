"""An API process of a fleet (no worker inside) serves the fleet's figures on /metrics."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from slidebatch.config import load_settings
from slidebatch.services import FleetRole, build_services

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
