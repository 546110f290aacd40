"""Health, readiness, metrics, server info, and deck parsing for the web page."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import (
    ERROR_RESPONSES,
    DeckParseIn,
    DeckParseOut,
    FleetWorkersOut,
    GateOut,
    InfoOut,
    LeaseOut,
    ReadyOut,
    UsageOut,
)
from slidebatch.core.deck import parse_deck
from slidebatch.services import Services
from slidebatch.storage.errors import StorageUnavailable

router = APIRouter(tags=["system"])
probes = APIRouter(tags=["system"])  # also served by a fleet worker without the API


@probes.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@probes.get(
    "/readyz",
    summary="Database reachable (and still the one opened, with its schema), gate state",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "not ready: see database_problem"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    problem = await services.database.problem()
    database_ok = problem is None
    gate = GateOut.of(services.gate.stats(), services.rate_scope_key)
    # A blocked or parked credential: the process is fine, its upstream will not take work.
    held = bool(gate.blocked or gate.parked)
    worker = services.worker
    lease = None if worker is None else LeaseOut.of(worker.health, services.clock.now())
    fleet = await _fleet_workers(services) if database_ok else None
    # No worker alive while batches wait: this process still serves (status, events,
    # cancel; another API process could do no better), so degraded and 200, like a held
    # gate; the fleet_workers field and an alert say what is missing.
    held = held or bool(fleet and fleet.problem)
    # A worker that cannot store its heartbeat loses its slides to others: not ready.
    ok = database_ok and (lease is None or lease.healthy)
    if services.owner_lost.is_set():  # another engine may own the database now
        ok = False
        problem = "the PostgreSQL owner lock was lost (its session ended): restart this process"
    body = ReadyOut(
        status=("degraded" if held else "ready") if ok else "unavailable",
        database="ok" if database_ok else "unreachable",
        database_problem=problem,
        provider=services.provider.name,
        gate=gate,
        fleet=lease,
        fleet_workers=fleet,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


async def _fleet_workers(services: Services) -> FleetWorkersOut | None:
    """The fleet's workers and open work (null outside a fleet, or if it cannot be read:
    the database check above says why)."""
    try:
        health = await services.fleet_health()
    except StorageUnavailable:
        return None
    return None if health is None else FleetWorkersOut.of(health)


@probes.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    body, content_type = await services.render_metrics()
    return Response(body, media_type=content_type)


@router.get(
    "/api/info",
    responses=ERROR_RESPONSES,
    response_model=InfoOut,
    summary="Version, provider, whether keys are required, limits",
)
async def info(services: ServicesDep) -> InfoOut:
    return InfoOut.of(await services.info())


@router.post(
    "/api/deck/parse",
    response_model=DeckParseOut,
    summary="Parse a JSON or Markdown deck",
    responses=ERROR_RESPONSES,
)
async def deck_parse(body: DeckParseIn, caller: CallerDep) -> DeckParseOut:
    # CallerDep: parsing is for key holders too, like every /api/deck and /api/slide call.
    return DeckParseOut.of(parse_deck(body.text, fmt=body.format, source="deck"))


@router.get(
    "/api/usage",
    response_model=UsageOut,
    summary="The calling key's spend (reported usage.cost) and slides today",
    responses=ERROR_RESPONSES,
)
async def usage(services: ServicesDep, caller: CallerDep) -> UsageOut:
    return UsageOut.model_validate(await services.spend_today(caller))
