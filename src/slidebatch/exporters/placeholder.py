"""The page that stands in for a failed slide in image-based formats (PDF), drawn with Pillow.

It says plainly that the slide failed and why, so nobody mistakes it for content.
"""

from __future__ import annotations

import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

from slidebatch.core.aspect import AspectRatio
from slidebatch.exporters.base import ExportSlide
from slidebatch.providers.fonts import find_fonts, load_font

PLACEHOLDER_LONG_SIDE = 1280
BACKGROUND = (245, 245, 245)
BAND = (190, 30, 45)
INK = (40, 40, 40)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def failure_reason(slide: ExportSlide) -> str:
    """Why a slide has no image, in words: its error, else its state."""
    if slide.error_message:
        return slide.error_message
    return {
        "cancelled": "cancelled before it was generated",
        "pending": "not generated yet",
        "generating": "still being generated",
        "done": "its image file is missing or unreadable",
    }.get(slide.status, "no image")


def failure_heading(slide: ExportSlide) -> str:
    """``Slide N failed: <reason>``, the line every format puts on a failed slide."""
    return f"Slide {slide.page_num} failed: {failure_reason(slide)}"


def render_placeholder_png(slide: ExportSlide, aspect: AspectRatio) -> bytes:
    """A PNG page at the deck's ratio: a red band, ``Slide N failed``, the reason and the title."""
    width, height = aspect.render_size(PLACEHOLDER_LONG_SIDE)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    band = max(12, height // 40)
    draw.rectangle((0, 0, width, band), fill=BAND)
    draw.rectangle((0, height - band, width, height), fill=BAND)
    margin = width // 14
    heading_size = max(18, min(width, height) // 12)
    body_size = max(12, heading_size // 2)
    y = height // 4
    draw.text((margin, y), f"Slide {slide.page_num} failed", font=_font(heading_size), fill=BAND)
    y += int(heading_size * 1.6)
    chars = max(20, int((width - 2 * margin) / (body_size * 0.55)))
    lines = textwrap.wrap(failure_reason(slide), chars)[:4]
    if slide.title:
        lines += ["", *textwrap.wrap(slide.title, chars)[:2]]
    for line in lines:
        draw.text((margin, y), line, font=_font(body_size), fill=INK)
        y += int(body_size * 1.4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _font(size: int) -> Font:
    # The renderer's font discovery (CJK first, then Latin, then Pillow's own), cached there.
    return load_font(find_fonts().regular, size)
