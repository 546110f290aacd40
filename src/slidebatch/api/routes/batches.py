"""Batches: the seed's endpoints and the ones beyond it (events, cancel, retry, regenerate...)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import (
    ActiveCountOut,
    BatchAcceptedOut,
    BatchGenerateIn,
    BatchGenerateOut,
    BatchIdIn,
    BatchListOut,
    BatchStatusOut,
    RegenerateIn,
    SlideResultOut,
)
from slidebatch.core.states import BatchState
from slidebatch.engine.views import batch_status, slide_result

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
    services: ServicesDep,
    caller: CallerDep,
    wait: bool = Query(True, description="wait for the batch to finish (seed behaviour)"),
    idempotency_key: str | None = Header(None, max_length=_IDEMPOTENCY_KEY_MAX),
) -> Any:
    request = body.to_request()
    async with services.audited(caller, "batch.create", "-") as audit:
        services.check_request(request)
        repeat = idempotency_key is not None and (
            await services.database.batches.find_by_idempotency_key(caller.owner, idempotency_key)
        )
        if not repeat:  # a client's retry returns its batch even at the edge of its quota
            await services.check_quota(caller, len(request.slides))
        batch, created = await services.engine.submit(
            request, owner=caller.owner, idempotency_key=idempotency_key
        )
        audit.target = batch.id
        audit.detail = f"slides={batch.total_slides} created={created}"
    if not wait:
        return JSONResponse(
            {
                "batch_id": batch.id,
                "status": str(batch.state),
                "total_slides": batch.total_slides,
                "max_workers": batch.effective_workers,
                "status_url": f"/api/slide/batch/{batch.id}",
                "events_url": f"/api/slide/batch/{batch.id}/events",
            },
            status_code=202,
        )
    # Shielded: a client that hangs up does not stop its batch (the engine owns it anyway).
    await asyncio.shield(services.engine.wait(batch.id))
    return await services.engine.result(batch.id)


@router.post("/status", response_model=BatchStatusOut, summary="Status of a batch (seed)")
async def status_by_body(body: BatchIdIn, services: ServicesDep, caller: CallerDep) -> Any:
    return await _status(body.batch_id, services, caller)


@router.get("/active-count", response_model=ActiveCountOut, summary="Running and queued batches")
async def active_count(services: ServicesDep, caller: CallerDep) -> Any:
    counts = await services.database.batches.count_active(caller.scope)
    running = counts.get(BatchState.RUNNING, 0)
    queued = counts.get(BatchState.QUEUED, 0)
    return {
        "active_batches": running + queued,
        "running_batches": running,
        "queued_batches": queued,
        "max_concurrent": services.settings.batch_max_concurrent,
    }


@router.get("", response_model=BatchListOut, summary="List batches, newest first")
async def list_batches(
    services: ServicesDep,
    caller: CallerDep,
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> Any:
    records, total = await services.database.batches.list_batches(
        owner=caller.scope, limit=limit, offset=offset
    )
    items = []
    for record in records:
        slides = await services.database.batches.get_slides(record.id)
        items.append(
            batch_status(record, slides, eta=None, queue_position=None, with_results=False)
        )
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{batch_id}", response_model=BatchStatusOut, summary="Status of a batch")
async def status_by_path(batch_id: str, services: ServicesDep, caller: CallerDep) -> Any:
    return await _status(batch_id, services, caller)


async def _status(batch_id: str, services: ServicesDep, caller: CallerDep) -> Any:
    async with services.audited(caller, "batch.read", batch_id):
        return await services.engine.status(batch_id, owner=caller.scope)


@router.get(
    "/{batch_id}/events",
    summary="Server-Sent Events: a snapshot, then one event per slide state change",
    response_class=EventSourceResponse,
)
async def events(batch_id: str, request: Request, services: ServicesDep, caller: CallerDep) -> Any:
    async with services.audited(caller, "batch.read", batch_id, detail="events"):
        await services.database.batches.get_batch(batch_id, owner=caller.scope)
    return EventSourceResponse(_event_stream(batch_id, request, services), ping=15)


async def _event_stream(
    batch_id: str, request: Request, services: ServicesDep
) -> AsyncIterator[ServerSentEvent]:
    # Subscribe before the snapshot so nothing that happens in between is missed.
    async with services.engine.events.subscribe(batch_id) as stream:
        snapshot = await services.engine.status(batch_id)
        yield ServerSentEvent(json.dumps(snapshot, ensure_ascii=False), event="snapshot")
        if snapshot["status"] in {str(s) for s in BatchState if s.is_final}:
            yield ServerSentEvent(json.dumps(_final(snapshot), ensure_ascii=False), event="batch")
            return
        async for event in stream:
            if await request.is_disconnected():
                return
            yield ServerSentEvent(
                json.dumps(event.data, ensure_ascii=False), event=event.kind, id=str(event.id)
            )


def _final(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k != "results"}


@router.post("/{batch_id}/cancel", response_model=BatchStatusOut, summary="Cancel a batch")
async def cancel(batch_id: str, services: ServicesDep, caller: CallerDep) -> Any:
    async with services.audited(caller, "batch.cancel", batch_id):
        await services.engine.cancel(batch_id, owner=caller.scope)
        return await services.engine.status(batch_id, owner=caller.scope)


@router.post("/{batch_id}/retry", response_model=BatchStatusOut, summary="Retry failed slides")
async def retry(batch_id: str, services: ServicesDep, caller: CallerDep) -> Any:
    async with services.audited(caller, "batch.retry", batch_id) as audit:
        count = await services.engine.retry_failed(batch_id, owner=caller.scope)
        audit.detail = f"slides={count}"
        return await services.engine.status(batch_id, owner=caller.scope)


@router.post(
    "/{batch_id}/slides/{slide_id}/regenerate",
    response_model=SlideResultOut,
    summary="Generate one slide again, optionally with a new visual description",
)
async def regenerate(
    batch_id: str,
    slide_id: str,
    services: ServicesDep,
    caller: CallerDep,
    body: RegenerateIn | None = None,
) -> Any:
    visual_desc = body.visual_desc if body else None
    async with services.audited(caller, "batch.regenerate", batch_id, detail=f"slide={slide_id}"):
        if visual_desc is not None:
            services.check_visual_desc(visual_desc)
        record = await services.engine.regenerate(
            batch_id, slide_id, visual_desc=visual_desc, owner=caller.scope
        )
        return slide_result(record)


@router.delete("/{batch_id}", status_code=204, summary="Delete a batch with its images")
async def delete(batch_id: str, services: ServicesDep, caller: CallerDep) -> Response:
    async with services.audited(caller, "batch.delete", batch_id):
        await services.engine.delete(batch_id, owner=caller.scope)
    return Response(status_code=204)
