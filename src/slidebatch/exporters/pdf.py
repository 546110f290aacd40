"""PDF export via img2pdf: each slide image embedded as it is, one page per slide.

Page size: the PPTX slide's size (long side 13.333 in = 960 pt, the other from the ratio),
so the PDF and the PPTX of a deck have the same pages whatever the image resolution;
the image fills the page, centred, with any sliver beyond the ratio cut off (upstream sizes
such as 1344x768 are close to, not exactly, 16:9). PNG and JPEG bytes go in unchanged.

Transparency: img2pdf refuses some alpha images (16-bit) and re-encodes the others into an
image plus soft mask, so only images with alpha are flattened onto white first, exactly how
they look on a white slide.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import IO

import img2pdf

from slidebatch.errors import InputError
from slidebatch.exporters.base import ExportDeck, FailedSlides
from slidebatch.exporters.geometry import page_size_pt
from slidebatch.exporters.images import flatten, load_image
from slidebatch.exporters.placeholder import render_placeholder_png


class PdfExporter:
    """Writes a deck as a PDF with one full-page image per slide."""

    media_type = "application/pdf"
    extension = "pdf"

    def export(
        self, deck: ExportDeck, out: IO[bytes], *, failed: FailedSlides = FailedSlides.PLACEHOLDER
    ) -> None:
        """Write ``deck`` to ``out``; failed or unreadable slides become marked pages or vanish."""
        pages: list[io.BytesIO] = []
        for slide in deck.slides:
            image = load_image(slide.image_path, max_pixels=deck.max_pixels)
            if image is not None:
                pages.append(io.BytesIO(flatten(image).data))
            elif failed is FailedSlides.PLACEHOLDER:
                pages.append(
                    io.BytesIO(render_placeholder_png(slide, deck.aspect_ratio, deck.style_prompt))
                )
        if not pages:
            raise InputError("nothing to export: no slide has a usable image")
        page_w, page_h = page_size_pt(deck.aspect_ratio)
        layout = img2pdf.get_layout_fun(
            pagesize=(page_w, page_h), fit=img2pdf.FitMode.fill, auto_orient=False
        )
        created = _utc(deck.created_at)
        # File objects, not bytes: img2pdf would first try bytes as a file name.
        img2pdf.convert(
            pages,
            outputstream=out,
            layout_fun=layout,
            title=deck.title or None,
            subject=deck.style_prompt or None,
            creator="slidebatch",
            producer="slidebatch (img2pdf)",
            creationdate=created,
            moddate=created,
            # Shown as stored, like the PPTX; reading EXIF would make Pillow decode every PNG.
            rotation=img2pdf.Rotation.none,
        )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
