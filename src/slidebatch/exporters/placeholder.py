"""The page that stands in for a failed slide in image-based formats (PDF).

Drawn by the renderer's one placeholder path: the slide's own text in the deck's style under
a signal-yellow band reading ``PLACEHOLDER — Slide N failed: <reason>``, so nobody mistakes
it for the generated slide.
"""

from __future__ import annotations

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.exporters.base import ExportSlide
from slidebatch.render import draw_slide

PLACEHOLDER_LONG_SIDE = 1280


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


def render_placeholder_png(
    slide: ExportSlide, aspect: AspectRatio, style_prompt: str = ""
) -> bytes:
    """A PNG page at the deck's ratio: the slide's text, marked as a failed slide and why."""
    try:
        slide_type = SlideType(slide.slide_type)
    except ValueError:
        slide_type = SlideType.CONTENT
    drawn = Slide(
        id=slide.client_id or str(slide.page_num),
        page_num=slide.page_num,
        type=slide_type,
        title=slide.title,
        content_text=slide.content_text,
        visual_desc=slide.visual_desc,
    )
    return draw_slide(
        drawn,
        style_prompt,
        aspect,
        long_side=PLACEHOLDER_LONG_SIDE,
        placeholder_reason=failure_heading(slide),
    ).png
