"""PPTX export (python-pptx): one full-bleed picture per slide, title, notes and alt text.

Layout choice: every slide uses the default template's "Title Only" layout, the only one
that carries a title placeholder and nothing else. The title is what PowerPoint's outline
view, slide sorter, navigation and screen readers read, so it stays a real title; it is
moved just above the slide's top edge (off-slide, where shows and PDF exports never draw it)
and sits first in z-order, behind the picture. That is the position Microsoft's own
accessibility guidance recommends for titles that should not show ("position the title off
the slide").

All sizes are EMU: the seed system passed inches where python-pptx wanted EMU and shipped
blank slides.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import IO, Any

from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.util import Emu, Pt

from slidebatch.errors import InputError
from slidebatch.exporters import pptx_package
from slidebatch.exporters.base import ExportDeck, ExportSlide, FailedSlides
from slidebatch.exporters.geometry import EMU_PER_INCH, cover_crop, slide_size_emu
from slidebatch.exporters.images import SlideImage, load_image
from slidebatch.exporters.placeholder import failure_heading

TITLE_ONLY_LAYOUT = "Title Only"
ALERT = RGBColor(0xBE, 0x1E, 0x2D)  # type: ignore[no-untyped-call]  # untyped in python-pptx
MAX_CORE_PROPERTY = 255  # the OOXML core properties limit
MAX_ALT_TEXT = 2000
# XML 1.0 cannot carry these; python-pptx escapes the C0 controls in slide text itself,
# but not in core properties or attributes.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class PptxExporter:
    """Writes a deck as a .pptx presentation."""

    media_type = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    extension = "pptx"

    def export(
        self, deck: ExportDeck, out: IO[bytes], *, failed: FailedSlides = FailedSlides.PLACEHOLDER
    ) -> None:
        """Write ``deck`` to ``out``; failed or unreadable slides become marked pages or vanish."""
        prs = Presentation()
        width, height = slide_size_emu(deck.aspect_ratio)
        prs.slide_width, prs.slide_height = Emu(width), Emu(height)
        layout = prs.slide_layouts.get_by_name(TITLE_ONLY_LAYOUT)
        written = 0
        for slide in deck.slides:
            image = load_image(slide.image_path, max_pixels=deck.max_pixels)
            if image is not None:
                _add_picture_slide(prs, layout, slide, image, width, height)
            elif failed is FailedSlides.PLACEHOLDER:
                _add_failed_slide(prs, layout, slide, width, height)
            else:
                continue
            written += 1
        if written == 0 and deck.slides:
            # An empty deck is an empty presentation (the seed's answer); a deck whose
            # every slide was left out is a mistake worth saying.
            raise InputError("nothing to export: no slide has a usable image")
        _set_properties(prs, deck)
        pptx_package.save(prs, out)


def _add_picture_slide(
    prs: Any, layout: Any, slide: ExportSlide, image: SlideImage, width: int, height: int
) -> None:
    page = prs.slides.add_slide(layout)
    title = page.shapes.title
    title.text = clean(slide.title) or f"Slide {slide.page_num}"
    title_height = EMU_PER_INCH
    title.left, title.top = Emu(0), Emu(-title_height)
    title.width, title.height = Emu(width), Emu(title_height)
    # Added after the title, so the picture is above it in z-order as well.
    picture = page.shapes.add_picture(
        io.BytesIO(image.data), Emu(0), Emu(0), Emu(width), Emu(height)
    )
    crop = cover_crop(image.width, image.height, width, height)
    picture.crop_left, picture.crop_right = crop.left, crop.right
    picture.crop_top, picture.crop_bottom = crop.top, crop.bottom
    picture.name = f"Slide image {slide.page_num}"
    # python-pptx has no alt-text API; descr on cNvPr is what PowerPoint shows as Alt Text.
    picture._element.nvPicPr.cNvPr.set("descr", alt_text(slide))
    _set_notes(page, slide)


def _add_failed_slide(prs: Any, layout: Any, slide: ExportSlide, width: int, height: int) -> None:
    page = prs.slides.add_slide(layout)
    margin = min(width, height) // 12
    title = page.shapes.title
    title.left, title.top = Emu(margin), Emu(margin)
    title.width, title.height = Emu(width - 2 * margin), Emu(height // 4)
    title.text = clean(failure_heading(slide))
    for paragraph in title.text_frame.paragraphs:
        for run in paragraph.runs:
            run.font.color.rgb = ALERT
            run.font.size = Pt(32)
    body = page.shapes.add_textbox(
        Emu(margin), Emu(margin + height // 4), Emu(width - 2 * margin), Emu(height // 2)
    )
    frame = body.text_frame
    frame.word_wrap = True
    frame.text = clean("\n".join(t for t in (slide.title, slide.content_text) if t))
    _set_notes(page, slide, heading=failure_heading(slide))


def _set_notes(page: Any, slide: ExportSlide, *, heading: str = "") -> None:
    parts = [heading, slide.title, slide.content_text]
    if slide.placeholder:
        parts.append("(The image is a locally drawn placeholder, not the generated slide.)")
    page.notes_slide.notes_text_frame.text = clean("\n\n".join(p for p in parts if p))


def alt_text(slide: ExportSlide) -> str:
    """What a screen reader says for the picture: the slide's title and its text."""
    text = " — ".join(t for t in (slide.title, slide.content_text) if t)
    text = text or slide.visual_desc or f"Slide {slide.page_num}"
    return clean(" ".join(text.split()))[:MAX_ALT_TEXT]


def _set_properties(prs: Any, deck: ExportDeck) -> None:
    props = prs.core_properties
    created = _utc_naive(deck.created_at)
    props.title = clean(deck.title)[:MAX_CORE_PROPERTY]
    props.subject = clean(deck.style_prompt)[:MAX_CORE_PROPERTY]
    props.author = props.last_modified_by = "slidebatch"
    props.created = props.modified = created
    props.revision = 1
    props.keywords = clean(deck.batch_id)[:MAX_CORE_PROPERTY]


def _utc_naive(moment: datetime) -> datetime:
    # python-pptx writes the value with a literal "Z": hand it UTC.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def clean(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry."""
    return _NOT_XML.sub("", text)
