"""``/placeholder/{w}/{h}/{bg}/{fg}?text=``: the covers of the seed's built-in templates."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Path, Query, Response

from slidebatch.authoring.placeholder import MAX_SIDE, MAX_TEXT, parse_colour, placeholder_png

router = APIRouter(tags=["templates"])


@router.get(
    "/placeholder/{width}/{height}/{background}/{ink}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="A flat-colour PNG with centred text, drawn locally",
)
async def placeholder(
    width: int = Path(..., ge=1, le=MAX_SIDE),
    height: int = Path(..., ge=1, le=MAX_SIDE),
    background: str = Path(..., max_length=7),
    ink: str = Path(..., max_length=7),
    text: str = Query("", max_length=MAX_TEXT * 4),
) -> Response:
    bg, fg = parse_colour(background), parse_colour(ink)
    png = await asyncio.to_thread(placeholder_png, width, height, bg, fg, text)
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})
