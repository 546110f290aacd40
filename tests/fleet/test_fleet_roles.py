"""A fleet role needs PostgreSQL; a worker inside a process reports its leases at /readyz."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from slidebatch.api.app import create_app
from slidebatch.config import load_settings
from slidebatch.errors import ConfigError
from slidebatch.services import FleetRole, build_services, fleet_factory


async def test_a_fleet_on_sqlite_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """serve --no-worker / worker on SQLite: ConfigError naming DATABASE_URL."""
    settings = load_settings(data_dir=tmp_path / "data", log_dir=tmp_path / "logs")
    with pytest.raises(ConfigError, match=r"needs PostgreSQL.*DATABASE_URL"):
        async with build_services(settings, fleet=FleetRole(api=False, worker=True)):
            pass


@pytest.mark.postgres
async def test_readyz_of_a_process_with_a_worker_reports_its_lease_health(
    tmp_path: Path, postgres_url: str
) -> None:
    """serve --fleet: /readyz carries the worker's name, lease time and a fresh heartbeat."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        database_url=postgres_url,
        fleet_lease_seconds=30,
    )
    app = create_app(settings, services_factory=fleet_factory(FleetRole(api=True, worker=True)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ready = (await client.get("/readyz")).json()
            metrics = (await client.get("/metrics")).text
    fleet = ready["fleet"]
    assert ready["status"] == "ready"
    assert fleet["healthy"] is True
    assert fleet["lease_seconds"] == 30
    assert fleet["leases"] == 0
    assert f'slidebatch_fleet_leases{{worker="{fleet["worker"]}"}} 0.0' in metrics
    assert f'slidebatch_fleet_heartbeat_age_seconds{{worker="{fleet["worker"]}"}}' in metrics
