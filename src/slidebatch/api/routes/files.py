"""Images and exports: stable image URLs, batch exports, and the seed's ``POST /export/pptx``."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, StreamingResponse

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.routes.assets import seed_asset
from slidebatch.api.schemas import BatchId, ExportPptxIn, canonical_batch_id
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.limits import check_slide_count, check_text
from slidebatch.core.states import SlideState
from slidebatch.errors import Conflict, NotFound
from slidebatch.exporters.base import export_to_tempfile, exporter_for, parse_failed
from slidebatch.exporters.filename import content_disposition, export_filename
from slidebatch.exporters.sources import deck_from_project, deck_from_records

router = APIRouter(tags=["files"])

_CHUNK = 256 * 1024


@router.get(
    "/images/{batch_id}/{file_name}",
    response_class=FileResponse,
    summary="A slide image (names are server-made; a regenerated slide gets a new URL)",
)
async def image(batch_id: BatchId, file_name: str, services: ServicesDep) -> FileResponse:
    # Unguessable batch ids make image URLs capabilities, so <img> tags work without headers.
    try:
        path = services.images.path(batch_id, file_name)
    except Exception as exc:  # malformed id or name: same answer as a missing file
        raise NotFound("image not found") from exc
    if not path.is_file():
        raise NotFound("image not found")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


@router.get(
    "/slide/batch/{batch_id}/export.{fmt}",
    summary="Download a batch as PPTX, PDF or ZIP",
    response_class=StreamingResponse,
)
async def export_batch(
    batch_id: BatchId,
    fmt: Literal["pptx", "pdf", "zip"],
    services: ServicesDep,
    caller: CallerDep,
    failed: Literal["placeholder", "omit"] = Query("placeholder"),
) -> StreamingResponse:
    async with services.audited(caller, "batch.export", batch_id, detail=fmt):
        batch, slides = await services.engine.read.records(batch_id, owner=caller.scope)
        if not any(s.state is SlideState.DONE for s in slides):
            raise Conflict(f"batch {batch_id} has no finished slide to export yet")
        deck = deck_from_records(batch, slides, services.images.batch_dir(batch_id))
        deck = replace(deck, max_pixels=services.settings.image_max_pixels)
        exporter = exporter_for(fmt)
        spool = await export_to_tempfile(exporter, deck, failed=parse_failed(failed))
    name = export_filename(deck.title or batch_id, exporter.extension)
    return _stream(spool, exporter.media_type, name)


@router.post(
    "/export/pptx",
    summary="The seed's export: a project whose slides refer to images by URL, as a .pptx",
    response_class=StreamingResponse,
)
async def export_project(
    body: ExportPptxIn, services: ServicesDep, caller: CallerDep
) -> StreamingResponse:
    aspect = AspectRatio.parse(body.project.aspect_ratio) if body.project.aspect_ratio else None
    async with services.audited(caller, "batch.export", "project", detail="pptx"):
        _check_project(body, services)
        usable = await _usable_batches(body, services, caller)

        def resolve(url: str) -> Path | None:
            return _local_image(services, url, usable)

        project = body.project.model_dump(exclude_unset=True, mode="json")
        deck = deck_from_project(project, resolve, aspect_ratio=aspect)
        exporter = exporter_for("pptx")
        spool = await export_to_tempfile(exporter, deck)
    stem = _without_extension(body.file_name or "", exporter.extension)
    name = export_filename(stem or deck.title or "slides", exporter.extension)
    return _stream(spool, exporter.media_type, name)


def _without_extension(file_name: str, extension: str) -> str:
    """The seed's clients send ``<title>.pptx``: the extension is added once, not twice."""
    suffix = f".{extension}"
    return file_name[: -len(suffix)] if file_name.lower().endswith(suffix) else file_name


_IMAGE_MARKER = "/api/images/"


def _check_project(body: ExportPptxIn, services: ServicesDep) -> None:
    """The batch limits apply to a project export too: slide count and text sizes."""
    limits = services.limits
    slides = body.project.slides
    check_slide_count(len(slides), limits, what="an exported project")
    check_text("project.title", body.project.title or "", "MAX_TITLE_CHARS", limits)
    for index, slide in enumerate(slides):
        where = f"project.slides[{index}]"
        check_text(f"{where}.title", slide.title, "MAX_TITLE_CHARS", limits)
        check_text(f"{where}.content_text", slide.content_text, "MAX_CONTENT_CHARS", limits)


async def _usable_batches(body: ExportPptxIn, services: ServicesDep, caller: CallerDep) -> set[str]:
    """The batches whose images this caller may put in an export: its own (all for admins).

    An image URL alone is a capability to view the image; pulling it into a server-side
    export also needs the key that owns its batch, so a leaked URL of another key's image
    exports as a missing image.
    """
    wanted = {
        canonical_batch_id(url.split(_IMAGE_MARKER, 1)[1].partition("/")[0])
        for url in (s.image_url for s in body.project.slides)
        if url and _IMAGE_MARKER in url
    }
    usable: set[str] = set()
    for batch_id in wanted:
        try:
            await services.engine.read.owned(batch_id, owner=caller.scope)
        except NotFound:  # missing or not theirs: not usable
            continue
        usable.add(batch_id)
    return usable


def _local_image(services: ServicesDep, url: str, usable: set[str]) -> Path | None:
    """Map ``/api/images/<batch>/<file>`` (absolute or relative URL) to its file; else None.

    Only images of ``usable`` batches resolve; the seed's ``/assets/<file>`` images always do.
    """
    if "/assets/" in url and _IMAGE_MARKER not in url:
        return seed_asset(services.settings, url.split("/assets/", 1)[1].split("?", 1)[0])
    if _IMAGE_MARKER not in url:
        return None
    raw_id, _, file_name = url.split(_IMAGE_MARKER, 1)[1].partition("/")
    batch_id = canonical_batch_id(raw_id)
    if batch_id not in usable:
        return None
    try:
        path = services.images.path(batch_id, file_name.split("?", 1)[0])
    except Exception:
        return None
    return path if path.is_file() else None


def _stream(spool: IO[bytes], media_type: str, file_name: str) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        try:
            while chunk := spool.read(_CHUNK):
                yield chunk
        finally:
            spool.close()

    return StreamingResponse(
        chunks(),
        media_type=media_type,
        headers={"Content-Disposition": content_disposition(file_name)},
    )
