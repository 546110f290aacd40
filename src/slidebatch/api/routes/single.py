"""The seed's one-slide calls: ``/slide/generate`` and ``/slide/regenerate``, synchronous.

A single slide is a one-slide batch: it goes through the same gate, is persisted, and keeps
running if the client hangs up.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import BatchGenerateIn, SingleSlideIn, SingleSlideOut
from slidebatch.core.states import SlideState
from slidebatch.errors import SlideFailed

router = APIRouter(prefix="/slide", tags=["single slide"])


@router.post("/generate", response_model=SingleSlideOut, summary="Generate one slide (waits)")
async def generate_one(
    body: SingleSlideIn, services: ServicesDep, caller: CallerDep
) -> SingleSlideOut:
    return await _one(body, services, caller)


@router.post(
    "/regenerate",
    response_model=SingleSlideOut,
    summary="Generate one slide again: in its batch (batch_id + slide_id) or standalone",
)
async def regenerate_one(
    body: SingleSlideIn, services: ServicesDep, caller: CallerDep
) -> SingleSlideOut:
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
    return _succeeded(
        SingleSlideOut.of(await services.engine.read.slide(body.batch_id, body.slide_id))
    )


async def _one(body: SingleSlideIn, services: ServicesDep, caller: CallerDep) -> SingleSlideOut:
    batch_body = BatchGenerateIn(
        slides=[body.one_slide()],
        style_prompt=body.style_prompt,
        aspect_ratio=body.aspect_ratio,
        max_workers=1,
    )
    request = batch_body.to_request()
    async with services.audited(caller, "batch.create", "-", detail="single") as audit:
        services.check_request(request)
        async with services.quota_hold(caller):
            await services.check_quota(caller, 1)
            batch, _ = await services.engine.submit(request, owner=caller.owner)
        audit.target = batch.id
    await asyncio.shield(services.engine.wait_unless_parked(batch.id))
    return _succeeded(
        SingleSlideOut.of(await services.engine.read.slide(batch.id, request.slides[0].id))
    )


def _succeeded(answer: SingleSlideOut) -> SingleSlideOut:
    """The answer of a finished slide; a failed one is an HTTP error status.

    The seed's clients read any 2xx as "the image is there": a refusal answered with
    200 and ``status: "error"`` would blank the old image and report success.
    """
    if answer.status != str(SlideState.DONE):
        reason = answer.error_message or "the slide was not generated"
        raise SlideFailed(
            f"slide {answer.slide_id} failed: {reason}",
            batch_id=answer.batch_id,
            slide_id=answer.slide_id,
        )
    return answer
