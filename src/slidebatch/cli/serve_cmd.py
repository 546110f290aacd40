"""``slidebatch serve``: the HTTP service, the web page and the API docs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from slidebatch.cli.output import fail

if TYPE_CHECKING:
    from slidebatch.config import Settings
    from slidebatch.services import FleetRole


def serve(
    host: str | None = typer.Option(
        None, "--host", help="Bind address (default SERVER_HOST, 127.0.0.1)."
    ),
    port: int | None = typer.Option(None, "--port", help="Port (default SERVER_PORT, 8000)."),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Allow a non-loopback bind without API keys."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    no_worker: bool = typer.Option(
        False,
        "--no-worker",
        help="An API process of a fleet on PostgreSQL: `slidebatch worker` processes generate.",
    ),
    fleet: bool = typer.Option(
        False, "--fleet", help="One process of a fleet on PostgreSQL, with a worker inside."
    ),
) -> None:
    """Serve the API at /api, the page at /, OpenAPI docs at /docs."""
    # Imported here: `slidebatch --help` must not load the web stack, and a second process
    # on a data directory must be refused before it loads it.
    from contextlib import ExitStack

    from slidebatch.config import load_settings
    from slidebatch.errors import ConfigError
    from slidebatch.storage.ownership import own_data_dir

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["server_host"] = host
    if port is not None:
        overrides["server_port"] = port
    if insecure_no_auth:
        overrides["insecure_no_auth"] = True
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        fail(str(exc))
    # Owned before anything opens the database, released only when the process ends.
    with ExitStack() as lifetime:
        try:
            lifetime.enter_context(own_data_dir(settings.effective_database_url))
        except ConfigError as exc:
            fail(str(exc))
        _run(settings, log_level, _role(no_worker=no_worker, fleet=fleet))


def _role(*, no_worker: bool, fleet: bool) -> FleetRole | None:
    from slidebatch.services import FleetRole

    if no_worker and fleet:
        fail("--no-worker and --fleet exclude each other: --fleet runs a worker inside")
    if no_worker or fleet:
        return FleetRole(api=True, worker=fleet)
    return None


def _run(settings: Settings, log_level: str, role: FleetRole | None = None) -> None:
    """Check the bind, build the app and serve until stopped (on PostgreSQL, or until its
    owner lock is lost: then exit ``EXIT_OWNER_LOST``, ``cli/server.py``)."""
    import asyncio

    from slidebatch.api.app import create_app
    from slidebatch.cli.server import Server
    from slidebatch.errors import ConfigError
    from slidebatch.services import check_bind, fleet_factory
    from slidebatch.storage.ownership import current_command
    from slidebatch.storage.pg_owner import check_database

    server = Server()
    try:
        # Before anything opens the database: a fleet role needs PostgreSQL, which must
        # open; an engine owns it alone, a fleet shares it (storage/pg_owner.py). Refused
        # here, it is one line and exit 2, not a failed lifespan under uvicorn.
        url, command = settings.effective_database_url, current_command()
        asyncio.run(check_database(url, fleet=role is not None, command=command))
        asyncio.run(check_bind(settings))
        factory = None if role is None else fleet_factory(role)
        app = create_app(
            settings,
            services_factory=factory,
            warm_start=True,
            on_owner_lost=server.owner_lost,
            drain_on_shutdown=True,
        )
    except ConfigError as exc:
        fail(str(exc))
    server.run(
        app,
        host=settings.server_host,
        port=settings.server_port,
        log_level=log_level,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.server_keep_alive_seconds,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
