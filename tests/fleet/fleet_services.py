"""An API process's services and a worker's, side by side in one test process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from slidebatch.config import load_settings
from slidebatch.providers.base import ImageProvider
from slidebatch.scheduler.clock import SystemClock
from slidebatch.services import FleetRole, Services, build_services
from slidebatch.testing.scripted_provider import ScriptedProvider

# ``api, worker = await start(provider)``: see ``services_side_by_side``.
StartFleet = Callable[[ImageProvider], Awaitable[tuple[Services, Services]]]


@asynccontextmanager
async def services_side_by_side(root: Path, database_url: str) -> AsyncIterator[StartFleet]:
    """A function that starts an API process's services (no worker inside) and a worker's
    whose upstream is the provider given, on ``database_url`` with quick fleet timings (poll
    0.1 s, lease 3 s) and folders under ``root``; both are closed when the block ends. The
    API process's upstream is a ``ScriptedProvider`` of the same scope, as a fleet's shared
    settings give."""
    settings = load_settings(
        data_dir=root / "data",
        log_dir=root / "logs",
        database_url=database_url,
        fleet_poll_seconds=0.1,
        fleet_lease_seconds=3,
    )
    async with AsyncExitStack() as stack:

        async def start(provider: ImageProvider) -> tuple[Services, Services]:
            api = await stack.enter_async_context(
                build_services(
                    settings, provider=ScriptedProvider(SystemClock()), fleet=FleetRole(api=True)
                )
            )
            worker = await stack.enter_async_context(
                build_services(settings, provider=provider, fleet=FleetRole(api=False, worker=True))
            )
            return api, worker

        yield start
