"""The offline renderer: a real slide image per slide, no network, no key.

The default provider when no key is configured, and the stand-in drawer when degradation is
on and an upstream failed (``placeholder_reason``). Rendering is deterministic (same input,
same bytes) and runs off the event loop.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable

from PIL import Image, ImageDraw

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.providers.fonts import FontSet, find_fonts, load_font
from slidebatch.providers.slide_layout import PaintedText, SlideLayout, layout_slide

logger = logging.getLogger("slidebatch.render")

# PNG encoding is most of a render: level 1 is ~1.5x faster than the default 6 on slide
# art for ~20% larger files; levels 1-3 cost the same, 0 makes 50x larger files.
PNG_COMPRESS_LEVEL = 1


def render_slide(
    slide: Slide,
    style_prompt: str,
    aspect_ratio: AspectRatio,
    *,
    long_side: int = 1920,
    placeholder_reason: str | None = None,
    fonts: FontSet | None = None,
) -> bytes:
    """PNG bytes of ``slide``; the same arguments always give the same bytes."""
    layout = layout_slide(
        slide,
        style_prompt,
        aspect_ratio,
        long_side=long_side,
        placeholder_reason=placeholder_reason,
        fonts=fonts,
    )
    return encode_png(paint(layout))


def paint(layout: SlideLayout) -> Image.Image:
    """Draw ``layout``: background, shapes, then text."""
    image = _background(layout)
    draw = ImageDraw.Draw(image)
    for shape in layout.shapes:
        box = shape.box
        if box.width and box.height:
            draw.rectangle((box.x0, box.y0, box.x1 - 1, box.y1 - 1), fill=shape.colour)
    for text in layout.texts:
        _draw_text(draw, text)
    return image


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes, tuned for speed (see ``PNG_COMPRESS_LEVEL``)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _background(layout: SlideLayout) -> Image.Image:
    size = (layout.width, layout.height)
    base = Image.new("RGB", size, layout.background)
    if layout.background_end == layout.background:
        return base
    # A 256-step horizontal ramp stretched to the canvas: cheap and smooth enough.
    ramp = (
        Image.linear_gradient("L")
        .rotate(90, expand=True)
        .transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    )
    mask = ramp.resize(size, Image.Resampling.BILINEAR)
    end = Image.new("RGB", size, layout.background_end)
    return Image.composite(end, base, mask)


def _draw_text(draw: ImageDraw.ImageDraw, text: PaintedText) -> None:
    block = text.block
    if not block.lines and not block.markers:
        return
    font = load_font(block.face, block.size)
    for marker in block.markers:
        draw.rectangle(
            (marker.x0, marker.y0, marker.x1 - 1, marker.y1 - 1), fill=text.marker_colour
        )
    for line in block.lines:
        if line.text.strip():
            draw.text((line.x, line.y), line.text, font=font, fill=text.colour, anchor="ls")


class LocalRenderer:
    """``ImageProvider`` that draws slides itself; ``delay_seconds`` makes it slow on purpose."""

    def __init__(
        self,
        *,
        long_side: int = 1920,
        delay_seconds: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        fonts: FontSet | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._long_side = long_side
        self._delay = delay_seconds
        self._sleep = sleep
        self._fonts = fonts
        self._clock = clock
        self._warned = False

    @property
    def name(self) -> str:
        return "local"

    @property
    def credential_id(self) -> str:
        return "local"

    def fonts(self) -> FontSet:
        """The fonts in use; the first call warns once if Chinese text cannot be drawn."""
        fonts = self._fonts or find_fonts()
        if not fonts.has_cjk and not self._warned:
            self._warned = True
            logger.warning(
                "no CJK font found: Chinese text will show as boxes; "
                "install one (Debian/Ubuntu: apt-get install fonts-noto-cjk)",
                extra={"event": "render_font_missing", "font": fonts.regular.path},
            )
        return fonts

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Draw ``request.slide`` in ``request.style_prompt``'s palette."""
        return await self._render(request, placeholder_reason=None)

    async def render_placeholder(self, request: ImageRequest, reason: str) -> ImageResult:
        """A clearly marked stand-in for a slide the upstream could not produce."""
        return await self._render(request, placeholder_reason=reason)

    async def _render(
        self, request: ImageRequest, *, placeholder_reason: str | None
    ) -> ImageResult:
        started = self._clock()
        if self._delay > 0:
            await self._sleep(self._delay)
        fonts = self.fonts()
        data = await asyncio.to_thread(
            render_slide,
            request.slide,
            request.style_prompt,
            request.aspect_ratio,
            long_side=self._long_side,
            placeholder_reason=placeholder_reason,
            fonts=fonts,
        )
        width, height = request.aspect_ratio.render_size(self._long_side)
        return ImageResult(
            data=data,
            mime_type="image/png",
            width=width,
            height=height,
            latency_s=self._clock() - started,
            cost=None,
            placeholder=placeholder_reason is not None,
        )
