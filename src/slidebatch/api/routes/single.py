"""The seed's one-slide calls: ``/slide/generate`` and ``/slide/regenerate``, synchronous.

A single slide is a one-slide batch: it goes through the same gate, is persisted, and keeps
running if the client hangs up.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import BatchGenerateIn, SingleSlideIn, SingleSlideOut
from slidebatch.engine.views import image_url

router = APIRouter(prefix="/slide", tags=["single slide"])


@router.post("/generate", response_model=SingleSlideOut, summary="Generate one slide (waits)")
async def generate_one(body: SingleSlideIn, services: ServicesDep, caller: CallerDep) -> Any:
    return await _one(body, services, caller)


@router.post(
    "/regenerate",
    response_model=SingleSlideOut,
    summary="Generate one slide again: in its batch (batch_id + slide_id) or standalone",
)
async def regenerate_one(body: SingleSlideIn, services: ServicesDep, caller: CallerDep) -> Any:
    if body.batch_id is None or body.slide_id is None:
        return await _one(body, services, caller)
    async with services.audited(
        caller, "batch.regenerate", body.batch_id, detail=f"slide={body.slide_id}"
    ):
        visual_desc = body.visual_desc or None
        if visual_desc is not None:
            services.check_visual_desc(visual_desc)
        await services.engine.regenerate(
            body.batch_id, body.slide_id, visual_desc=visual_desc, owner=caller.scope
        )
    await asyncio.shield(services.engine.wait_slide(body.batch_id, body.slide_id))
    return await _slide_answer(services, body.batch_id, body.slide_id)


async def _one(body: SingleSlideIn, services: ServicesDep, caller: CallerDep) -> Any:
    batch_body = BatchGenerateIn(
        slides=[body.one_slide()],
        style_prompt=body.style_prompt,
        aspect_ratio=body.aspect_ratio,
        max_workers=1,
    )
    request = batch_body.to_request()
    async with services.audited(caller, "batch.create", "-", detail="single") as audit:
        services.check_request(request)
        await services.check_quota(caller, 1)
        batch, _ = await services.engine.submit(request, owner=caller.owner)
        audit.target = batch.id
    await asyncio.shield(services.engine.wait(batch.id))
    return await _slide_answer(services, batch.id, request.slides[0].id)


async def _slide_answer(services: ServicesDep, batch_id: str, slide_id: str) -> dict[str, Any]:
    repo = services.database.batches
    record = await repo.get_slide(batch_id, await repo.find_slide_key(batch_id, slide_id))
    return {
        "image_url": image_url(batch_id, record.image_file),
        "final_prompt": record.final_prompt,
        "status": str(record.state),
        "error_message": record.error_message,
        "batch_id": batch_id,
        "slide_id": record.slide.id,
        "generation_time": record.generation_time,
    }
