"""Draw a laid-out slide with Pillow and encode it: the only module here that makes pixels.

``render_slide`` is the whole renderer in one call (layout, paint, PNG). Rendering is
deterministic: the same arguments always give the same bytes.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide
from slidebatch.render.fonts import FontSet
from slidebatch.render.glyphs import load_font
from slidebatch.render.icons import icon_font_path
from slidebatch.render.layout import layout_slide
from slidebatch.render.scene import PaintedText, Shape, ShapeKind, SlideLayout

# PNG encoding is most of a render: level 1 is ~1.5x faster than the default 6 on slide
# art for ~20% larger files; levels 1-3 cost the same, 0 makes 50x larger files.
PNG_COMPRESS_LEVEL = 1


@dataclass(frozen=True, slots=True)
class RenderedSlide:
    """A drawn slide: PNG bytes and the pixel size they really have."""

    png: bytes
    width: int
    height: int
    warnings: tuple[str, ...] = ()


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
    return RenderedSlide(encode_png(paint(layout)), layout.width, layout.height, layout.warnings)


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
        if shape.box.width and shape.box.height:
            _draw_shape(image, draw, shape)
    for text in layout.texts:
        _draw_text(image, draw, text)
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


def _draw_shape(image: Image.Image, draw: ImageDraw.ImageDraw, shape: Shape) -> None:
    box = shape.box
    xy = (box.x0, box.y0, box.x1 - 1, box.y1 - 1)
    kind = shape.kind
    if shape.colour_end is not None and kind in (ShapeKind.RECT, ShapeKind.ROUNDED):
        _gradient(image, shape)
    elif kind is ShapeKind.RECT:
        draw.rectangle(xy, fill=shape.colour)
    elif kind is ShapeKind.ROUNDED:
        draw.rounded_rectangle(xy, radius=shape.radius, fill=shape.colour)
    elif kind is ShapeKind.ELLIPSE and shape.width:
        draw.ellipse(xy, outline=shape.colour, width=shape.width)
    elif kind is ShapeKind.ELLIPSE:
        draw.ellipse(xy, fill=shape.colour)
    elif kind is ShapeKind.WEDGE:
        draw.pieslice(xy, shape.start, shape.end, fill=shape.colour)
    elif kind is ShapeKind.LINE:
        draw.line(list(shape.points), fill=shape.colour, width=shape.width, joint="curve")
    elif kind is ShapeKind.ICON:
        _draw_icon(draw, shape)


def _gradient(image: Image.Image, shape: Shape) -> None:
    """A vertical gradient from ``colour`` to ``colour_end``, clipped to the shape."""
    assert shape.colour_end is not None
    box = shape.box
    size = (box.width, box.height)
    ramp = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    fill = Image.composite(
        Image.new("RGB", size, shape.colour_end), Image.new("RGB", size, shape.colour), ramp
    )
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (0, 0, size[0] - 1, size[1] - 1), radius=shape.radius, fill=255
    )
    image.paste(fill, (box.x0, box.y0), mask)


def _draw_icon(draw: ImageDraw.ImageDraw, shape: Shape) -> None:
    path = icon_font_path()
    if path is None or not shape.glyph:
        return
    box = shape.box
    font = _icon_font(path, max(1, min(box.width, box.height)))
    draw.text(
        ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2),
        shape.glyph,
        font=font,
        fill=shape.colour,
        anchor="mm",
    )


@functools.lru_cache(maxsize=128)
def _icon_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    # Icon glyphs are about one em wide: 0.75 em keeps the widest (1.25 em) inside the box.
    return ImageFont.truetype(
        path, max(1, round(size * 0.75)), layout_engine=ImageFont.Layout.BASIC
    )


def _draw_text(image: Image.Image, draw: ImageDraw.ImageDraw, text: PaintedText) -> None:
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
            font.draw(image, draw, (line.x, line.y), line.text, text.colour)
