"""Images and exports: stable image URLs, batch exports, and the seed's ``POST /export/pptx``."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, StreamingResponse

from slidebatch.api.deps import CallerDep, ServicesDep
from slidebatch.api.schemas import ExportPptxIn
from slidebatch.core.aspect import AspectRatio
from slidebatch.core.states import SlideState
from slidebatch.errors import Conflict, NotFound
from slidebatch.exporters.base import export_to_tempfile, exporter_for, parse_failed
from slidebatch.exporters.deck import deck_from_project, deck_from_records
from slidebatch.exporters.filename import content_disposition, export_filename

router = APIRouter(tags=["files"])

_CHUNK = 256 * 1024


@router.get(
    "/images/{batch_id}/{file_name}",
    response_class=FileResponse,
    summary="A slide image (names are server-made; a regenerated slide gets a new URL)",
)
async def image(batch_id: str, file_name: str, services: ServicesDep) -> FileResponse:
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
    batch_id: str,
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
    def resolve(url: str) -> Path | None:
        return _local_image(services, url)

    aspect = AspectRatio.parse(body.project.aspect_ratio) if body.project.aspect_ratio else None
    async with services.audited(caller, "batch.export", "project", detail="pptx"):
        deck = deck_from_project(body.project.model_dump(), resolve, aspect_ratio=aspect)
        exporter = exporter_for("pptx")
        spool = await export_to_tempfile(exporter, deck)
    name = export_filename(body.file_name or deck.title or "slides", exporter.extension)
    return _stream(spool, exporter.media_type, name)


def _local_image(services: ServicesDep, url: str) -> Path | None:
    """Map ``/api/images/<batch>/<file>`` (absolute or relative URL) to its file; else None."""
    marker = "/api/images/"
    if marker not in url:
        return None
    batch_id, _, file_name = url.split(marker, 1)[1].partition("/")
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
