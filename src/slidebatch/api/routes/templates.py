"""The seed's templates (singular path): list, save, update, and style analysis of images."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import StreamingResponse

from slidebatch.api.deps import CallerDep, ServicesDep, studio_chat_model
from slidebatch.api.seed_schemas import (
    StylePromptOut,
    TemplateIn,
    TemplateListOut,
    TemplateOut,
    TemplateSavedOut,
    event_stream,
)
from slidebatch.assist import offline_style as style
from slidebatch.assist.style import analyze_style, check_images
from slidebatch.authoring.messages import StyleMessage
from slidebatch.authoring.model_streams import style_stream
from slidebatch.authoring.streams import (
    STREAM_HEADERS,
    each,
    sse_lines,
    style_messages,
    with_references,
)
from slidebatch.authoring.templates import TemplateShelf, template_settings
from slidebatch.core import pixels
from slidebatch.core.access import Caller
from slidebatch.core.project import Template
from slidebatch.errors import InputError, LimitExceeded, NotFound
from slidebatch.services import Services
from slidebatch.storage.templates import TemplateRepository

router = APIRouter(prefix="/template", tags=["templates"])

_UPLOAD = File(..., description="Reference images (PNG, JPEG, WebP...), up to 10 MB each")


def shelf(services: Services, caller: Caller | None = None) -> TemplateShelf:
    """The templates of this app (built-ins and stored); with ``caller``, a cover may name
    one of its slide images (``_CallersImages``)."""
    covers = services.settings.assets_dir / "templates"
    drawn = None if caller is None else _CallersImages(services, caller)
    return TemplateShelf(TemplateRepository.on(services.database), covers, drawn)


@dataclass(frozen=True, slots=True)
class _CallersImages:
    """The slide images of the batches ``caller`` may read (its own; all for an admin)."""

    services: Services
    caller: Caller

    async def read(self, batch_id: str, file_name: str) -> bytes | None:
        try:
            await self.services.engine.read.owned(batch_id, owner=self.caller.scope)
            path = self.services.images.path(batch_id, file_name)
            return await asyncio.to_thread(path.read_bytes)
        except (NotFound, InputError, OSError):  # missing, malformed or not theirs
            return None


def _out(template: Template) -> TemplateOut:
    settings = template.settings
    return TemplateOut(
        id=template.id,
        name=template.name,
        style_prompt=template.style_prompt,
        cover_image=template.cover_image,
        vis_settings=settings.get("vis_settings"),
        # As sent, [] too (the seed answers []); a template stored without any gets the default.
        aspect_ratios=settings.get("aspect_ratios", ["16:9", "4:3", "1:1"]),
        default_aspect_ratio=settings.get("default_aspect_ratio") or "16:9",
        custom_dimensions=settings.get("custom_dimensions"),
        reference_images=list(settings.get("reference_images") or []),
        created_at=template.created_at,
    )


def _template(body: TemplateIn, template_id: str = "") -> Template:
    now = datetime.now(UTC)  # storage stamps the times it keeps
    return Template(
        id=template_id,
        name=body.name,
        style_prompt=body.style_prompt,
        created_at=now,
        updated_at=now,
        cover_image=body.cover_image,
        settings=template_settings(body.model_dump()),
    )


@router.get("", response_model=TemplateListOut, summary="Built-in and saved templates")
async def list_templates(services: ServicesDep, caller: CallerDep) -> TemplateListOut:
    templates = await shelf(services).all(scope=caller.scope)
    return TemplateListOut(templates=[_out(t) for t in templates])


@router.post("/save", response_model=TemplateSavedOut, summary="Save a new template")
async def save_template(
    body: TemplateIn, services: ServicesDep, caller: CallerDep
) -> TemplateSavedOut:
    async with services.audited(caller, "template.save", "-") as audit:
        saved = await shelf(services, caller).create(_template(body), owner=caller.owner)
        audit.target = saved.id
    return TemplateSavedOut(template=_out(saved))


@router.put("/{template_id}", response_model=TemplateSavedOut, summary="Update a template")
async def update_template(
    template_id: str, body: TemplateIn, services: ServicesDep, caller: CallerDep
) -> TemplateSavedOut:
    async with services.audited(caller, "template.update", template_id):
        saved = await shelf(services, caller).update(
            _template(body, template_id), scope=caller.scope, owner=caller.owner
        )
    return TemplateSavedOut(template=_out(saved))


@router.post("/analyze", response_model=StylePromptOut, summary="A style prompt from images")
async def analyze(
    services: ServicesDep, caller: CallerDep, files: list[UploadFile] = _UPLOAD
) -> StylePromptOut:
    """The chat model's style prompt (``LLM_CHAT_MODEL``), or the offline one without a model.

    422 for a file that is not an image or no file, 413 for one over 10 MB (before any call);
    502/503 when the model fails (the upstream's message, key scrubbed).
    """
    uploads = await _read(files)
    model = await studio_chat_model(services)
    prompt = await analyze_style(services.http, model, uploads)
    return StylePromptOut(style_prompt=prompt, reference_images=await _keep(services, uploads))


@router.post(
    "/analyze-stream",
    response_class=StreamingResponse,
    responses=event_stream(StyleMessage, "One style analysis message per data: line"),
    summary="The same analysis, streamed as the seed streams it (data: lines)",
)
async def analyze_stream(
    services: ServicesDep, caller: CallerDep, files: list[UploadFile] = _UPLOAD
) -> StreamingResponse:
    # Bad input is a 4xx before the stream starts, not an error line inside a 200.
    uploads = await _read(files)
    tones = await check_images(uploads)
    model = await studio_chat_model(services)
    references = await _keep(services, uploads)
    messages: AsyncIterator[StyleMessage]
    if model is None:
        prompt = await analyze_style(services.http, None, uploads, tones=tones)
        messages = each(style_messages(prompt, [name for name, _ in uploads]))
    else:
        messages = style_stream(services.http, model, uploads, tones)
    messages = with_references(messages, references)
    return StreamingResponse(
        sse_lines(messages), media_type="text/event-stream", headers=STREAM_HEADERS
    )


async def _read(files: list[UploadFile]) -> list[tuple[str, bytes]]:
    if not files:
        raise InputError("upload at least one image (form field 'files')")
    if len(files) > style.MAX_IMAGES:
        raise LimitExceeded(
            f"at most {style.MAX_IMAGES} images per analysis",
            limit_name="MAX_STYLE_IMAGES",
            limit=style.MAX_IMAGES,
        )
    uploads = []
    for upload in files:
        name = upload.filename or "upload"
        data = await upload.read(style.MAX_IMAGE_BYTES + 1)
        style.check_upload(name, data)
        pixels.check_upload(data, what=f"file {name!r}", still=False)
        uploads.append((name, data))
    return uploads


async def _keep(services: Services, uploads: list[tuple[str, bytes]]) -> list[str]:
    """The analysed images kept as reference images of a template to be saved."""
    images = [data for _, data in uploads]
    return await asyncio.to_thread(shelf(services).keep_references, images)
