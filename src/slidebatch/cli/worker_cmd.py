"""``slidebatch worker``: one worker of a fleet on PostgreSQL (claims slides, generates them).

With ``--port`` it also serves ``/healthz``, ``/readyz`` (lease health) and ``/metrics``
(labelled with the worker's name) on that port; it serves no API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from slidebatch.cli.output import EXIT_OWNER_LOST, OWNER_LOST, fail

if TYPE_CHECKING:
    from slidebatch.config import Settings


def worker(
    port: int | None = typer.Option(
        None, "--port", help="Serve /healthz, /readyz and /metrics on this port (loopback)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Bind address of the probes."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Claim slides from the fleet's PostgreSQL database and generate them until stopped."""
    from slidebatch.config import load_settings
    from slidebatch.errors import ConfigError

    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    _check_database(settings)
    if port is None:
        _run_plain(settings)
    else:
        _run_with_probes(settings, host, port, log_level)


def _check_database(settings: Settings) -> None:
    """Refuse now (exit 2, one line) a database that is not PostgreSQL, cannot be opened
    or is owned by an engine, instead of a traceback from the services or a failed
    lifespan under uvicorn."""
    import asyncio

    from slidebatch.errors import ConfigError
    from slidebatch.storage.ownership import current_command
    from slidebatch.storage.pg_owner import check_database

    try:
        url, command = settings.effective_database_url, current_command()
        asyncio.run(check_database(url, fleet=True, command=command))
    except ConfigError as exc:
        fail(str(exc))


def _run_plain(settings: Settings) -> None:
    import asyncio
    import contextlib
    import signal

    from slidebatch.cli.worker_lines import announced
    from slidebatch.errors import ConfigError
    from slidebatch.scheduler.clock import first_of
    from slidebatch.services import FleetRole, fleet_factory

    factory = announced(fleet_factory(FleetRole(api=False, worker=True)), None)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with factory(settings) as services:
            await first_of(stop.wait(), services.owner_lost.wait())
            lost = services.owner_lost.is_set()
        if lost:
            fail(OWNER_LOST, EXIT_OWNER_LOST)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    except ConfigError as exc:
        fail(str(exc))


def _run_with_probes(settings: Settings, host: str, port: int, log_level: str) -> None:
    from slidebatch.api.app import create_probe_app
    from slidebatch.cli.server import Server
    from slidebatch.cli.worker_lines import announced
    from slidebatch.services import FleetRole, fleet_factory

    # A lost owner lock: shut down as on SIGTERM, exit EXIT_OWNER_LOST. A SIGTERM or
    # SIGINT drains and exits 0, as without --port (not by the signal raised again).
    server = Server(signal_exits_zero=True)
    metrics = f"http://{host}:{port}/metrics"
    app = create_probe_app(
        settings,
        services_factory=announced(fleet_factory(FleetRole(False, True)), metrics),
        on_owner_lost=server.owner_lost,
    )
    server.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.server_keep_alive_seconds,
    )


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
