"""A fleet role needs PostgreSQL; a worker inside a process reports its leases at /readyz,
and every fleet process the fleet's workers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fleet_processes import deck
from sqlalchemy import text

from slidebatch.api.app import create_app
from slidebatch.config import load_settings
from slidebatch.errors import ConfigError
from slidebatch.services import FleetRole, Services, build_services, fleet_factory


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


async def _beat(services: Services, name: str, age: float) -> None:
    """A ``fleet_workers`` row for ``name`` whose last heartbeat is ``age`` seconds old."""
    async with services.database.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO fleet_workers (name, host, pid, started_at, beat_at)"
                " VALUES (:n, 'h', 1, now(), now() - make_interval(secs => :age))"
            ),
            {"n": name, "age": age},
        )


@pytest.mark.postgres
async def test_readyz_of_an_api_process_says_degraded_while_work_waits_for_no_worker(
    tmp_path: Path, postgres_url: str
) -> None:
    """serve --no-worker: /readyz reports the fleet's workers (heartbeat within two leases)
    and says degraded, still 200 (the API serves), while batches wait and none is alive."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
        database_url=postgres_url,
        image_provider="local",
        fleet_lease_seconds=30,
    )
    app = create_app(settings, services_factory=fleet_factory(FleetRole(api=True)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            idle = (await client.get("/readyz")).json()
            body = deck(2, "readyz")
            created = await client.post("/api/slide/batch/generate?wait=false", json=body)
            assert created.status_code < 300, created.text
            stalled = await client.get("/readyz")
            await _beat(app.state.services, "gone:1:a", age=61)  # silent for > two leases
            still = (await client.get("/readyz")).json()
            await _beat(app.state.services, "alive:2:b", age=59)
            served = (await client.get("/readyz")).json()
    assert idle["status"] == "ready"
    assert idle["fleet"] is None  # no worker inside this process
    assert idle["fleet_workers"] == {
        "alive": 0,
        "alive_within_seconds": 60.0,
        "batches_open": 0,
        "slides_generating": 0,
        "slides_overdue": 0,
        "problem": None,
    }
    assert stalled.status_code == 200
    assert stalled.json()["status"] == "degraded"
    assert stalled.json()["fleet_workers"]["batches_open"] == 1
    assert "no fleet worker alive" in stalled.json()["fleet_workers"]["problem"]
    assert still["status"] == "degraded"
    assert served["status"] == "ready"
    assert served["fleet_workers"]["alive"] == 1
    assert served["fleet_workers"]["problem"] is None
