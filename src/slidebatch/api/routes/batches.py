"""Batches: the seed's endpoints and the ones beyond it (events, cancel, retry, regenerate...)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.list_body import ListBodies
from slidebatch.api.references import resolve_look
from slidebatch.api.routes.templates import shelf
from slidebatch.api.schemas import (
    ActiveCountOut,
    BatchAcceptedOut,
    BatchGenerateIn,
    BatchGenerateOut,
    BatchId,
    BatchIdIn,
    BatchListOut,
    BatchStatusOut,
    RegenerateIn,
    SlideResultOut,
    event_json,
)
from slidebatch.api.status_body import StatusBodies
from slidebatch.core.access import Caller
from slidebatch.core.batch import BatchRecord
from slidebatch.core.look import Look, check_references
from slidebatch.core.slide import BatchRequest
from slidebatch.services import Services

router = APIRouter(prefix="/slide/batch", tags=["batches"])

_IDEMPOTENCY_KEY_MAX = 200


@router.post(
    "/generate",
    response_model=BatchGenerateOut,
    responses={202: {"model": BatchAcceptedOut, "description": "accepted (?wait=false)"}},
    summary="Generate a batch of slides (waits by default; ?wait=false answers 202 at once)",
)
async def generate(
    body: BatchGenerateIn,
    http_request: Request,
    services: ServicesDep,
    caller: CallerDep,
    wait: bool = Query(True, description="wait for the batch to finish (seed behaviour)"),
    idempotency_key: str | None = Header(None, max_length=_IDEMPOTENCY_KEY_MAX),
) -> BatchGenerateOut | JSONResponse:
    with services.engine.answering():
        batch = await _create(body, http_request, services, caller, idempotency_key, wait)
    if not wait:
        return JSONResponse(BatchAcceptedOut.of(batch).model_dump(), status_code=202)
    # Shielded: a client that hangs up does not stop its batch (the engine owns it anyway).
    await asyncio.shield(services.engine.wait_unless_parked(batch.id))
    return BatchGenerateOut.of(await services.engine.read.result(batch.id))


async def _create(
    body: BatchGenerateIn,
    http_request: Request,
    services: Services,
    caller: Caller,
    idempotency_key: str | None,
    wait: bool,
) -> BatchRecord:
    """The batch ``body`` asks for, stored (or the one its ``idempotency_key`` made), audited."""
    request = await _with_look(body, body.to_request(), http_request, services, caller)
    async with services.audited(caller, "batch.create", "-") as audit:
        services.check_request(request)
        async with services.quota_hold(caller):
            # A client's retry returns its batch even at the edge of its quota.
            if not await services.engine.read.is_repeat(caller.owner, idempotency_key):
                await services.check_quota(caller, len(request.slides))
            unit = None
            if body.max_cost is not None:
                unit = await services.check_max_cost(body.max_cost, len(request.slides))
            batch, created = await services.engine.submit(
                request, owner=caller.owner, idempotency_key=idempotency_key, admit_later=not wait
            )
        if created and unit is not None and body.max_cost is not None:
            services.guard_cost(batch.id, body.max_cost, unit)
        audit.target = batch.id
        audit.detail = f"slides={batch.total_slides} created={created}"
    return batch


async def _with_look(
    body: BatchGenerateIn,
    request: BatchRequest,
    http_request: Request,
    services: Services,
    caller: Caller,
) -> BatchRequest:
    """``request`` with the look its body asks for: its own references, else its template's."""
    template_images: list[bytes] = []
    if body.template_id:
        templates = shelf(services)
        template = await templates.get(body.template_id, scope=caller.scope)
        if not request.style_prompt.strip():
            request = replace(request, style_prompt=template.style_prompt)
        if not body.reference_images:
            template_images = await asyncio.to_thread(templates.reference_images, template)
    if template_images:
        look = Look(references=check_references(template_images), anchor=body.anchor)
    elif body.reference_images or body.anchor:
        look = resolve_look(
            body.reference_images,
            anchor=body.anchor,
            images=services.images,
            own_netloc=http_request.url.netloc,
        )
    else:
        return request
    return replace(request, look=look)


@router.post("/status", response_model=BatchStatusOut, summary="Status of a batch (seed)")
async def status_by_body(
    body: BatchIdIn, request: Request, services: ServicesDep, caller: CallerDep
) -> Response:
    # The seed listed finished slides only; GET /slide/batch/{id} lists every slide. A POST
    # is never answered 304 (RFC 9110 defines it for GET and HEAD): no If-None-Match here.
    return await _status(body.batch_id, request, services, caller, since=None, finished=True)


@router.get("/active-count", response_model=ActiveCountOut, summary="Running and queued batches")
async def active_count(services: ServicesDep, caller: CallerDep) -> ActiveCountOut:
    return ActiveCountOut.of(await services.engine.read.active_count(caller.scope))


@router.get("", response_model=BatchListOut, summary="List batches, newest first")
async def list_batches(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Response:
    page = await services.engine.read.page(owner=caller.scope, limit=limit, offset=offset)
    bodies: ListBodies = request.app.state.list_bodies
    return bodies.response(page, await services.unit_cost(recent=True))


@router.get(
    "/{batch_id}",
    response_model=BatchStatusOut,
    responses={304: {"description": "unchanged since the ETag sent in If-None-Match"}},
    summary="Status of a batch (ETag; ?since= for only the slides changed after a version)",
)
async def status_by_path(
    batch_id: BatchId,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    since: str | None = Query(None, max_length=64, description="a 'version' from an answer"),
    if_none_match: str | None = Header(
        None, max_length=1024, description="an ETag of an earlier answer: 304 if unchanged"
    ),
) -> Response:
    return await _status(
        batch_id, request, services, caller, since=since, if_none_match=if_none_match
    )


async def _status(
    batch_id: str,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    *,
    since: str | None,
    finished: bool = False,
    if_none_match: str | None = None,
) -> Response:
    async with services.audited(caller, "batch.read", batch_id):
        status = await services.engine.read.status(batch_id, owner=caller.scope, since=since)
    bodies: StatusBodies = request.app.state.status_bodies
    unit = await services.unit_cost(recent=True)
    return bodies.response(status, if_none_match, unit=unit, finished_only=finished)


@router.get(
    "/{batch_id}/events",
    summary="Server-Sent Events: a snapshot, then one event per slide state change",
    response_class=EventSourceResponse,
)
async def events(
    batch_id: BatchId, request: Request, services: ServicesDep, caller: CallerDep
) -> EventSourceResponse:
    async with services.audited(caller, "batch.read", batch_id, detail="events"):
        await services.engine.read.owned(batch_id, owner=caller.scope)
    return EventSourceResponse(_event_stream(batch_id, request, services), ping=15)


async def _event_stream(
    batch_id: BatchId, request: Request, services: ServicesDep
) -> AsyncIterator[ServerSentEvent]:
    """``snapshot`` (the whole state), then ``slide`` events, then one ``batch`` event.

    Every event has an ``id:``. The snapshot's is the newest id published before it was
    read, so every later event has a larger one. A browser reconnecting with
    ``Last-Event-ID`` gets a fresh whole snapshot first: nothing missed while away is lost,
    whatever the id (ids restart with the server process).
    """
    bus = services.engine.events
    # Subscribe before the snapshot so nothing that happens in between is missed.
    async with bus.subscribe(batch_id) as stream:
        seen = str(bus.last_id)
        snapshot = await services.engine.read.status(batch_id)
        yield ServerSentEvent(event_json(snapshot), event="snapshot", id=seen)
        if snapshot.status.is_final:
            yield ServerSentEvent(event_json(snapshot.without_results()), event="batch", id=seen)
            return
        async for event in stream:
            if await request.is_disconnected():
                return
            yield ServerSentEvent(event_json(event.data), event=event.kind, id=str(event.id))


@router.post("/{batch_id}/cancel", response_model=BatchStatusOut, summary="Cancel a batch")
async def cancel(batch_id: BatchId, services: ServicesDep, caller: CallerDep) -> BatchStatusOut:
    async with services.audited(caller, "batch.cancel", batch_id):
        await services.engine.cancel(batch_id, owner=caller.scope)
        return BatchStatusOut.of(await services.engine.read.status(batch_id, owner=caller.scope))


@router.post("/{batch_id}/retry", response_model=BatchStatusOut, summary="Retry failed slides")
async def retry(batch_id: BatchId, services: ServicesDep, caller: CallerDep) -> BatchStatusOut:
    async with services.audited(caller, "batch.retry", batch_id) as audit:
        count = await services.engine.retry_failed(batch_id, owner=caller.scope)
        audit.detail = f"slides={count}"
        return BatchStatusOut.of(await services.engine.read.status(batch_id, owner=caller.scope))


@router.post(
    "/{batch_id}/slides/{slide_id}/regenerate",
    response_model=SlideResultOut,
    summary="Generate one slide again, optionally with a new visual description",
)
async def regenerate(
    batch_id: BatchId,
    slide_id: str,
    services: ServicesDep,
    caller: CallerDep,
    body: RegenerateIn | None = None,
) -> SlideResultOut:
    visual_desc = body.visual_desc if body else None
    candidates = body.candidates if body else 1
    async with services.audited(caller, "batch.regenerate", batch_id, detail=f"slide={slide_id}"):
        if visual_desc is not None:
            services.check_visual_desc(visual_desc)
        answer = await services.engine.regenerate(
            batch_id, slide_id, visual_desc=visual_desc, owner=caller.scope, candidates=candidates
        )
        return SlideResultOut.of(answer)


@router.delete("/{batch_id}", status_code=204, summary="Delete a batch with its images")
async def delete(batch_id: BatchId, services: ServicesDep, caller: CallerDep) -> Response:
    async with services.audited(caller, "batch.delete", batch_id):
        await services.engine.delete(batch_id, owner=caller.scope)
    return Response(status_code=204)
