"""What ``slidebatch worker`` prints on the terminal: one line at start, one at exit.

The pipeline log has the details (``fleet_worker_start``, ``fleet_worker_draining``,
``fleet_worker_stop``); these lines tell whoever started the process, or reads its
journal, which worker it is, on which database and upstream, and how it ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from slidebatch.cli.output import err_console

if TYPE_CHECKING:
    from slidebatch.config import Settings
    from slidebatch.services import Services

Factory = Callable[["Settings"], AbstractAsyncContextManager["Services"]]


def start_line(services: Services, metrics_url: str | None) -> str:
    """``slidebatch worker NAME: database URL (no password), upstream PROVIDER MODEL at RATE,
    in flight up to CAP; metrics at URL`` (or ``no metrics (--port)``)."""
    from slidebatch.services import model_name
    from slidebatch.storage.urls import parse_url

    settings = services.settings
    name = services.worker.name if services.worker else "?"
    where = parse_url(settings.effective_database_url).render_as_string(hide_password=True)
    model = model_name(settings)
    upstream = services.provider.name + (f" {model}" if model else "")
    cap = services.gate.stats().in_flight_cap
    metrics = f"metrics at {metrics_url}" if metrics_url else "no metrics port (--port)"
    return (
        f"slidebatch worker {name}: database {where}, upstream {upstream} at"
        f" {_rate(settings, services.provider.name)}, in flight up to {cap}; {metrics}"
    )


def _rate(settings: Settings, provider: str) -> str:
    """UPSTREAM_RPM per UPSTREAM_RATE_WINDOW_SECONDS (and UPSTREAM_RPD), in words."""
    if provider == "local":
        return "no rate limit (local renderer)"
    window = f"{settings.upstream_rate_window_seconds:g} s"
    rpm = settings.upstream_rpm
    rate = f"{rpm} requests per {window}" if rpm else f"a rate learned from its headers ({window})"
    if settings.upstream_rpd:
        rate += f", {settings.upstream_rpd} per day"
    return rate


def exit_line(services: Services) -> str:
    """``slidebatch worker NAME stopped: drained, F of N requests in flight finished, R
    slides handed back``."""
    worker = services.worker
    if worker is None:
        return "slidebatch worker stopped"
    d = worker.drained
    return (
        f"slidebatch worker {worker.name} stopped: drained, {d.finished} of {d.in_flight}"
        f" requests in flight finished, {d.released} slides handed back"
    )


def announced(factory: Factory, metrics_url: str | None) -> Factory:
    """``factory``, printing ``start_line`` once the worker runs and ``exit_line`` once its
    services have closed (the worker drained and left the fleet)."""

    @asynccontextmanager
    async def wrapped(settings: Settings) -> AsyncIterator[Services]:
        async with factory(settings) as services:
            say(start_line(services, metrics_url))
            yield services
        say(exit_line(services))

    return wrapped


def say(line: str) -> None:
    """One plain line on stderr (where uvicorn's own lines go)."""
    err_console.print(line, markup=False, highlight=False)
