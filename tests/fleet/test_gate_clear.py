"""A fleet gate parked by a 402 shows in every process's status and is lifted by hand.

A 402 (no credits) parks the scope in ``gate_scopes`` for an hour, restarts included:
an API process without a worker says ``waiting_for_quota`` for the batches it serves, and
``slidebatch gate clear`` (``fleet/gate_admin.py``) lets the fleet start again at once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fleet_processes import process_env
from fleet_services import StartFleet

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState
from slidebatch.engine.answers import BatchStatus
from slidebatch.errors import QuotaExhausted
from slidebatch.fleet.gate_admin import clear_holds, list_holds
from slidebatch.fleet.pg_gate import open_pg_gate
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.services import Services
from slidebatch.testing.scripted_provider import Fail, ScriptedProvider

pytestmark = pytest.mark.postgres

NO_CREDITS = QuotaExhausted("402: insufficient credits", reset_at=None, no_credits=True, status=402)


@pytest.fixture
async def api_and_worker(api_and_worker_services: StartFleet) -> tuple[Services, Services]:
    """An API process without a worker, and a worker whose upstream says 402 once for s1."""
    provider = ScriptedProvider(
        SystemClock(), default_latency=0.05, script={"s1": [Fail(NO_CREDITS)]}
    )
    return await api_and_worker_services(provider)


async def _until_waiting_for_quota(api: Services, batch_id: str) -> BatchStatus:
    while True:
        status = await api.engine.read.status(batch_id)
        if status.progress.waiting_for_quota is not None:
            return status
        await asyncio.sleep(0.05)


async def test_an_api_process_shows_the_park_and_gate_clear_lets_the_batch_finish(
    api_and_worker: tuple[Services, Services],
) -> None:
    """The worker's 402 parks the shared gate: the API process's status says
    waiting_for_quota with the reason; clearing the gate lets the batch complete at once
    (not after the hour the park and the slide's wait were set for)."""
    api, _worker = api_and_worker
    slides = (Slide("s1", 1, SlideType.CONTENT, "One", "point", ""),)
    batch, _ = await api.engine.submit(BatchRequest(slides, "flat", AspectRatio(16, 9), 1))
    parked = await asyncio.wait_for(_until_waiting_for_quota(api, batch.id), 30)
    quota = parked.progress.waiting_for_quota
    assert quota is not None
    assert "insufficient credits" in quota.reason
    cleared = await clear_holds(api.database.engine)
    assert [h.park_reason for h in cleared.scopes if h.parked_for] == [str(NO_CREDITS)]
    assert cleared.slides == 1
    ended = await asyncio.wait_for(api.engine.wait(batch.id), 30)
    assert ended.state is BatchState.COMPLETED
    assert not any(h.held for h in await list_holds(api.database.engine))


def _cli(postgres_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slidebatch", "gate", *args],
        env=process_env(tmp_path, postgres_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


async def test_gate_show_and_clear_commands(postgres_url: str, tmp_path: Path) -> None:
    """`gate show` lists a stored park with its reason; `gate clear SCOPE` lifts it."""
    from slidebatch.storage.database import Database

    database = await Database.open(postgres_url)
    try:
        gate = await open_pg_gate(database.engine, "acct:model", GateConfig(rate=10))
        gate.park(gate.clock.now() + 3600, "no credits (402)")
        await gate.flush()
        await gate.aclose()
    finally:
        await database.close()
    shown = json.loads(
        (await asyncio.to_thread(_cli, postgres_url, tmp_path, "show", "--json")).stdout
    )
    assert shown[0]["scope"] == "acct:model"
    assert shown[0]["park_reason"] == "no credits (402)"
    assert 3500 < shown[0]["parked_for"] <= 3600
    cleared = await asyncio.to_thread(_cli, postgres_url, tmp_path, "clear", "acct:model")
    assert "cleared acct:model: parked" in cleared.stdout
    after = json.loads(
        (await asyncio.to_thread(_cli, postgres_url, tmp_path, "show", "--json")).stdout
    )
    assert after[0]["parked_for"] is None
