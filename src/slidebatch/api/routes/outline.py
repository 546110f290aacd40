"""The seed's outline step: a deck outline from a document, whole or streamed, and one
inserted slide. The configured chat model writes them (``LLM_CHAT_MODEL``); without one the
offline method does (``assist.offline_outline``).

An empty document is a 422 and an unknown template a 404, both before any call or stream; a
model that fails is a 502/503 (``api/errors.py``), or an ``error`` message inside a stream.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from slidebatch.api.deps import CallerDep, ServicesDep, studio_chat_model
from slidebatch.api.routes.templates import shelf
from slidebatch.api.seed_schemas import (
    InsertSlideIn,
    InsertSlideOut,
    OutlineIn,
    OutlineOut,
    OutlineSlideOut,
    event_stream,
)
from slidebatch.assist.offline_outline import OutlineSlide
from slidebatch.assist.outline import check_document, write_outline, write_slide
from slidebatch.authoring.messages import OutlineMessage
from slidebatch.authoring.model_streams import outline_stream
from slidebatch.authoring.streams import (
    STREAM_HEADERS,
    each,
    outline_messages,
    slide_message,
    sse_lines,
)
from slidebatch.services import Services

router = APIRouter(prefix="/outline", tags=["outline"])


def _slide_data(slide: OutlineSlide) -> OutlineSlideOut:
    return {"id": str(uuid.uuid4()), **slide_message(slide)}


async def _template_name(body: OutlineIn, services: Services, scope: str | None) -> str | None:
    if not body.template_id:
        return None
    return (await shelf(services).get(body.template_id, scope=scope)).name


@router.post("/generate", response_model=OutlineOut, summary="An outline of slide_count slides")
async def generate(body: OutlineIn, services: ServicesDep, caller: CallerDep) -> OutlineOut:
    await _template_name(body, services, caller.scope)
    model = await studio_chat_model(services)
    slides = await write_outline(services.http, model, body.text, body.slide_count)
    return OutlineOut(slides=[_slide_data(s) for s in slides])


@router.post(
    "/generate-stream",
    response_class=StreamingResponse,
    responses=event_stream(OutlineMessage, "One outline message per data: line"),
    summary="The same outline streamed as the seed streams it: start, progress, slide..., complete",
)
async def generate_stream(
    body: OutlineIn, services: ServicesDep, caller: CallerDep
) -> StreamingResponse:
    # An empty document and an unknown template are 4xx before the stream starts.
    check_document(body.text, body.slide_count)
    name = await _template_name(body, services, caller.scope)
    model = await studio_chat_model(services)
    messages: AsyncIterator[OutlineMessage]
    if model is None:
        slides = await write_outline(services.http, None, body.text, body.slide_count)
        messages = each(outline_messages(slides, body.slide_count, name))
    else:
        messages = outline_stream(services.http, model, body.text, body.slide_count, name)
    return StreamingResponse(
        sse_lines(messages), media_type="text/event-stream", headers=STREAM_HEADERS
    )


@router.post("/insert-slide", response_model=InsertSlideOut, summary="One slide to insert")
async def insert_slide(
    body: InsertSlideIn, services: ServicesDep, caller: CallerDep
) -> InsertSlideOut:
    slide = await write_slide(
        services.http,
        await studio_chat_model(services),
        body.user_prompt,
        body.insert_after_page_num + 1,
        before=body.prev_slide.title if body.prev_slide else None,
        after=body.next_slide.title if body.next_slide else None,
    )
    return InsertSlideOut(slide=_slide_data(slide))
