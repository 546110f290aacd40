"""The seed's outline step: a deck outline from a document, whole or streamed, and one
inserted slide. This is the offline method (``authoring.outline``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.routes.templates import shelf
from slidebatch.api.seed_schemas import InsertSlideIn, InsertSlideOut, OutlineIn, OutlineOut
from slidebatch.authoring.outline import OutlineSlide, inserted_slide, outline
from slidebatch.authoring.streams import STREAM_HEADERS, outline_messages, slide_message, sse
from slidebatch.services import Services

router = APIRouter(prefix="/outline", tags=["outline"])


def _slide_data(slide: OutlineSlide) -> dict[str, Any]:
    return {"id": str(uuid.uuid4())} | slide_message(slide)


async def _template_name(body: OutlineIn, services: Services, scope: str | None) -> str | None:
    if not body.template_id:
        return None
    return (await shelf(services).get(body.template_id, scope=scope)).name


@router.post("/generate", response_model=OutlineOut, summary="An outline of slide_count slides")
async def generate(body: OutlineIn, services: ServicesDep, caller: CallerDep) -> Any:
    await _template_name(body, services, caller.scope)
    slides = await asyncio.to_thread(outline, body.text, body.slide_count)
    return {"slides": [_slide_data(s) for s in slides]}


@router.post(
    "/generate-stream",
    response_class=StreamingResponse,
    summary="The same outline streamed as the seed streams it: start, progress, slide..., complete",
)
async def generate_stream(
    body: OutlineIn, services: ServicesDep, caller: CallerDep
) -> StreamingResponse:
    # An unknown template is a 404 before the stream starts.
    name = await _template_name(body, services, caller.scope)
    slides = await asyncio.to_thread(outline, body.text, body.slide_count)
    messages = outline_messages(slides, body.slide_count, name)

    async def stream() -> AsyncIterator[str]:
        for message in messages:
            yield sse(message)

    return StreamingResponse(stream(), media_type="text/event-stream", headers=STREAM_HEADERS)


@router.post("/insert-slide", response_model=InsertSlideOut, summary="One slide to insert")
async def insert_slide(body: InsertSlideIn, caller: CallerDep) -> Any:
    slide = inserted_slide(
        body.user_prompt,
        body.insert_after_page_num + 1,
        before=body.prev_slide.title if body.prev_slide else None,
        after=body.next_slide.title if body.next_slide else None,
    )
    return {"slide": _slide_data(slide)}
