"""PPTX export, read back with python-pptx."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from slidebatch.core.aspect import AspectRatio
from slidebatch.errors import InputError
from slidebatch.exporters.base import ExportDeck, ExportSlide, FailedSlides
from slidebatch.exporters.pptx import PptxExporter

EMU_16_9 = (12_192_000, 6_858_000)


def export(deck: ExportDeck, failed: FailedSlides = FailedSlides.PLACEHOLDER) -> Any:
    out = io.BytesIO()
    PptxExporter().export(deck, out, failed=failed)
    out.seek(0)
    return Presentation(out)


def pictures(page: Any) -> list[Any]:
    return [s for s in page.shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE]


def test_slide_count_size_and_full_bleed_pictures(make_deck: Callable[..., ExportDeck]) -> None:
    """Every slide has one picture at (0, 0) whose extents are the slide's, in EMU."""
    prs = export(make_deck(4))
    assert len(prs.slides) == 4
    assert (prs.slide_width, prs.slide_height) == EMU_16_9
    for page in prs.slides:
        [picture] = pictures(page)
        assert (picture.left, picture.top) == (0, 0)
        assert (picture.width, picture.height) == EMU_16_9


@pytest.mark.parametrize(
    ("aspect", "size"),
    [
        ("16:9", (12_192_000, 6_858_000)),
        ("4:3", (12_192_000, 9_144_000)),
        ("1:1", (12_192_000, 12_192_000)),
        ("9:16", (6_858_000, 12_192_000)),
        ("21:9", (12_192_000, 5_225_143)),
    ],
)
def test_slide_size_follows_the_aspect_ratio(
    make_deck: Callable[..., ExportDeck], aspect: str, size: tuple[int, int]
) -> None:
    """The long side is 13.333 in and the other side follows the ratio, for any ratio."""
    ratio = AspectRatio.parse(aspect)
    prs = export(make_deck(1, aspect=aspect, size=ratio.render_size(160)))
    assert (prs.slide_width, prs.slide_height) == size
    [picture] = pictures(prs.slides[0])
    assert (picture.width, picture.height) == size


def test_off_ratio_image_is_cropped_not_stretched(make_deck: Callable[..., ExportDeck]) -> None:
    """A 1344x768 (7:4) image on a 16:9 slide fills it by trimming its top and bottom."""
    prs = export(make_deck(1, size=(1344, 768)))
    [picture] = pictures(prs.slides[0])
    assert (picture.width, picture.height) == EMU_16_9
    assert picture.crop_left == picture.crop_right == 0
    assert picture.crop_top == pytest.approx(picture.crop_bottom)
    visible = 768 * (1 - picture.crop_top - picture.crop_bottom)
    assert 1344 / visible == pytest.approx(16 / 9, rel=1e-4)


def test_title_is_readable_and_kept_off_the_picture(
    make_deck: Callable[..., ExportDeck],
) -> None:
    """The title placeholder holds the slide title, lies above the slide and behind the picture."""
    prs = export(make_deck(2))
    for number, page in enumerate(prs.slides, start=1):
        title = page.shapes.title
        assert title.text == f"Title {number}"
        assert title.top + title.height <= 0
        shapes = list(page.shapes)
        assert shapes.index(title) < shapes.index(pictures(page)[0])


def test_notes_and_alt_text_carry_title_and_content(make_deck: Callable[..., ExportDeck]) -> None:
    """Speaker notes have the title and the content; the picture's descr is its alt text."""
    prs = export(make_deck(2))
    page = prs.slides[1]
    notes = page.notes_slide.notes_text_frame.text
    assert "Title 2" in notes
    assert "Point one of 2" in notes
    assert "Point two of 2" in notes
    descr = pictures(page)[0]._element.nvPicPr.cNvPr.get("descr")
    assert descr.startswith("Title 2")
    assert "Point two of 2" in descr


def test_core_properties(make_deck: Callable[..., ExportDeck]) -> None:
    """Title and creation date come from the deck, not from python-pptx's template."""
    prs = export(make_deck(1, title="年度总结 Review"))
    props = prs.core_properties
    assert props.title == "年度总结 Review"
    assert props.created.isoformat() == "2025-03-04T05:06:07"
    assert props.author == "slidebatch"


def test_failed_slides_become_marked_pages(make_deck: Callable[..., ExportDeck]) -> None:
    """With placeholder handling a failed slide is a page titled 'Slide N failed: <error>'."""
    prs = export(make_deck(3, failed=(2,)))
    assert len(prs.slides) == 3
    failed_page = prs.slides[1]
    assert failed_page.shapes.title.text == "Slide 2 failed: upstream refused slide 2"
    assert pictures(failed_page) == []
    assert "Title 2" in failed_page.notes_slide.notes_text_frame.text
    texts = [s.text_frame.text for s in failed_page.shapes if s.has_text_frame]
    assert any("Point one of 2" in t for t in texts)


def test_failed_slides_can_be_omitted(make_deck: Callable[..., ExportDeck]) -> None:
    """With omit handling the failed slide is left out and the others keep their order."""
    prs = export(make_deck(3, failed=(2,)), FailedSlides.OMIT)
    assert [p.shapes.title.text for p in prs.slides] == ["Title 1", "Title 3"]


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_unreadable_image_counts_as_failed(
    make_deck: Callable[..., ExportDeck], damage: str
) -> None:
    """A missing, truncated or garbage image file gives a failed page, never an exception."""
    deck = make_deck(2)
    path = deck.slides[0].image_path
    assert path is not None
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-40])
    else:
        path.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    prs = export(deck)
    assert prs.slides[0].shapes.title.text.startswith("Slide 1 failed:")
    assert len(pictures(prs.slides[1])) == 1


def test_nothing_to_export_is_an_input_error(make_deck: Callable[..., ExportDeck]) -> None:
    """Omitting every slide of an all-failed deck is the caller's mistake, said clearly."""
    with pytest.raises(InputError, match="nothing to export"):
        export(make_deck(2, failed=(1, 2)), FailedSlides.OMIT)


def test_hostile_text_does_not_break_the_file(
    make_deck: Callable[..., ExportDeck], make_slide: Callable[..., ExportSlide]
) -> None:
    """Control characters, lone surrogates and a 1000-char title still give a valid file."""
    deck = make_deck(1)
    nasty = "A\x00B\x1b\ud800C" + "x" * 1000
    deck = replace(
        deck,
        title=nasty,
        slides=(make_slide(1, deck.slides[0].image_path, title=nasty, content_text=nasty),),
    )
    prs = export(deck)
    assert prs.slides[0].shapes.title.text.startswith("AB")
    assert len(prs.core_properties.title) <= 255


def test_alpha_and_jpeg_images_are_embedded(
    make_image: Callable[..., Path], make_slide: Callable[..., ExportSlide], tmp_path: Path
) -> None:
    """RGBA PNG, JPEG and WebP images all become pictures (WebP converted to PNG)."""
    images = [
        make_image("a.png", mode="RGBA"),
        make_image("b.jpg", fmt="JPEG"),
        make_image("c.webp", fmt="WEBP"),
    ]
    deck = ExportDeck(
        title="t",
        aspect_ratio=AspectRatio(16, 9),
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        slides=tuple(make_slide(i + 1, p) for i, p in enumerate(images)),
    )
    prs = export(deck)
    types = [pictures(p)[0].image.content_type for p in prs.slides]
    assert types == ["image/png", "image/jpeg", "image/png"]


def test_media_are_stored_and_xml_is_deflated(make_deck: Callable[..., ExportDeck]) -> None:
    """Images go into the package uncompressed (already PNG), the XML parts deflated."""
    out = io.BytesIO()
    PptxExporter().export(make_deck(2), out)
    members = zipfile.ZipFile(out).infolist()
    media = [m for m in members if m.filename.startswith("ppt/media/")]
    assert len(media) == 2
    assert all(m.compress_type == zipfile.ZIP_STORED for m in media)
    slide_xml = next(m for m in members if m.filename == "ppt/slides/slide1.xml")
    assert slide_xml.compress_type == zipfile.ZIP_DEFLATED
