"""Draw a laid-out slide with Pillow and encode it: the only module here that makes pixels.

``render_slide`` is the whole renderer in one call (layout, paint, PNG). Rendering is
deterministic: the same arguments always give the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide
from slidebatch.render.fonts import FontSet, load_font
from slidebatch.render.layout import PaintedText, SlideLayout, layout_slide

# PNG encoding is most of a render: level 1 is ~1.5x faster than the default 6 on slide
# art for ~20% larger files; levels 1-3 cost the same, 0 makes 50x larger files.
PNG_COMPRESS_LEVEL = 1


@dataclass(frozen=True, slots=True)
class RenderedSlide:
    """A drawn slide: PNG bytes and the pixel size they really have."""

    png: bytes
    width: int
    height: int


def draw_slide(
    slide: Slide,
    style_prompt: str,
    aspect_ratio: AspectRatio,
    *,
    long_side: int = 1920,
    placeholder_reason: str | None = None,
    fonts: FontSet | None = None,
) -> RenderedSlide:
    """``slide`` drawn at ``aspect_ratio.render_size(long_side)``.

    With ``placeholder_reason`` the slide carries a signal-yellow band saying it is a
    stand-in and why: the one placeholder path (local provider, degraded slides, exports).
    """
    layout = layout_slide(
        slide,
        style_prompt,
        aspect_ratio,
        long_side=long_side,
        placeholder_reason=placeholder_reason,
        fonts=fonts,
    )
    return RenderedSlide(encode_png(paint(layout)), layout.width, layout.height)


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
    return draw_slide(
        slide,
        style_prompt,
        aspect_ratio,
        long_side=long_side,
        placeholder_reason=placeholder_reason,
        fonts=fonts,
    ).png


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
