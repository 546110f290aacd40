"""``/assets/<file>``: the images the seed system saved, served where its projects point."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from slidebatch.api.deps import ServicesDep
from slidebatch.config import Settings
from slidebatch.errors import NotFound

router = APIRouter(tags=["files"])

_IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


def seed_asset(settings: Settings, name: str) -> Path | None:
    """The file ``name`` under SEED_ASSETS_DIR, or None (missing, not an image, or escaping)."""
    root = settings.assets_dir.resolve()
    if not name or "\x00" in name or "\\" in name:
        return None
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    if mimetypes.guess_type(path.name)[0] not in _IMAGE_TYPES:
        return None
    return path


@router.get(
    "/assets/{name:path}",
    response_class=FileResponse,
    summary="An image the seed system saved (SEED_ASSETS_DIR)",
)
async def asset(name: str, services: ServicesDep) -> FileResponse:
    path = seed_asset(services.settings, name)
    if path is None:
        raise NotFound("asset not found")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
    )
