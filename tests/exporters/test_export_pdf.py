"""PDF export, read back with pypdf."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from slidebatch.core.aspect import AspectRatio
from slidebatch.errors import InputError
from slidebatch.exporters.base import ExportDeck, ExportSlide, FailedSlides
from slidebatch.exporters.pdf import PdfExporter


def export(deck: ExportDeck, failed: FailedSlides = FailedSlides.PLACEHOLDER) -> PdfReader:
    out = io.BytesIO()
    PdfExporter().export(deck, out, failed=failed)
    out.seek(0)
    return PdfReader(out)


def page_size(reader: PdfReader, index: int) -> tuple[float, float]:
    box = reader.pages[index].mediabox
    return float(box.width), float(box.height)


def png_idat(data: bytes) -> bytes:
    """The concatenated IDAT payload of a PNG: what a PDF embeds when it does not re-encode."""
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    return b"".join(chunks)


def page_image_stream(reader: PdfReader, index: int) -> bytes:
    resources: Any = reader.pages[index]["/Resources"]
    xobjects = resources["/XObject"]
    [name] = list(xobjects)
    stream = xobjects[name].get_object()
    return bytes(stream._data)


def test_page_count_size_and_title(make_deck: Callable[..., ExportDeck]) -> None:
    """One 960x540 pt page per slide (13.333 x 7.5 in, like the PPTX) and the deck title."""
    reader = export(make_deck(3, title="季度 review"))
    assert len(reader.pages) == 3
    assert all(page_size(reader, i) == pytest.approx((960, 540)) for i in range(3))
    assert reader.metadata is not None
    assert reader.metadata.title == "季度 review"


@pytest.mark.parametrize(
    ("aspect", "size"), [("4:3", (960, 720)), ("9:16", (540, 960)), ("1:1", (960, 960))]
)
def test_page_size_follows_the_aspect_ratio(
    make_deck: Callable[..., ExportDeck], aspect: str, size: tuple[float, float]
) -> None:
    """The page has the deck's ratio whatever the image's pixel size."""
    reader = export(make_deck(1, aspect=aspect, size=AspectRatio.parse(aspect).render_size(200)))
    assert page_size(reader, 0) == pytest.approx(size)


def test_png_is_embedded_without_re_encoding(make_deck: Callable[..., ExportDeck]) -> None:
    """The page's image stream is the PNG's own compressed data, byte for byte."""
    deck = make_deck(1, size=(320, 180))
    path = deck.slides[0].image_path
    assert path is not None
    assert page_image_stream(export(deck), 0) == png_idat(path.read_bytes())


def test_jpeg_is_embedded_as_is(
    make_image: Callable[..., Path], make_slide: Callable[..., ExportSlide]
) -> None:
    """A JPEG goes into the PDF unchanged (DCTDecode), its bytes untouched."""
    path = make_image("photo.jpg", fmt="JPEG")
    deck = ExportDeck(
        "t", AspectRatio(16, 9), datetime(2024, 1, 1, tzinfo=UTC), (make_slide(1, path),)
    )
    assert page_image_stream(export(deck), 0) == path.read_bytes()


def test_png_with_alpha_is_flattened(
    make_image: Callable[..., Path], make_slide: Callable[..., ExportSlide]
) -> None:
    """An RGBA PNG (which img2pdf would refuse or mask) becomes an opaque page image."""
    path = make_image("alpha.png", mode="RGBA")
    deck = ExportDeck(
        "t", AspectRatio(16, 9), datetime(2024, 1, 1, tzinfo=UTC), (make_slide(1, path),)
    )
    reader = export(deck)
    [image] = reader.pages[0].images
    assert image.image is not None
    assert image.image.mode == "RGB"
    resources: Any = reader.pages[0]["/Resources"]
    [xobject] = resources["/XObject"].values()
    assert "/SMask" not in xobject.get_object()


def test_failed_slides_become_marked_pages(make_deck: Callable[..., ExportDeck]) -> None:
    """A failed slide is a drawn page of the same size; the others keep their places."""
    reader = export(make_deck(3, failed=(2,)))
    assert len(reader.pages) == 3
    assert page_size(reader, 1) == pytest.approx((960, 540))
    [image] = reader.pages[1].images
    assert image.image is not None
    # Drawn at 1280 px wide, unlike the 160 px slide images.
    assert image.image.size == (1280, 720)


def test_failed_slides_can_be_omitted(make_deck: Callable[..., ExportDeck]) -> None:
    """With omit handling the failed slide is left out."""
    assert len(export(make_deck(3, failed=(1, 3)), FailedSlides.OMIT).pages) == 1


def test_corrupt_image_counts_as_failed(make_deck: Callable[..., ExportDeck]) -> None:
    """A corrupted image file is a failed page, not a crash or a broken PDF."""
    deck = make_deck(2)
    path = deck.slides[1].image_path
    assert path is not None
    data = bytearray(path.read_bytes())
    data[60:70] = b"\x00" * 10  # inside a chunk: its CRC no longer matches
    path.write_bytes(bytes(data))
    reader = export(deck)
    assert len(reader.pages) == 2
    assert reader.pages[1].images[0].image.size == (1280, 720)  # type: ignore[union-attr]


def test_nothing_to_export_is_an_input_error(make_deck: Callable[..., ExportDeck]) -> None:
    """An all-failed deck with omit handling raises InputError, not img2pdf's ValueError."""
    with pytest.raises(InputError, match="nothing to export"):
        export(make_deck(1, failed=(1,)), FailedSlides.OMIT)
