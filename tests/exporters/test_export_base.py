"""Choosing an exporter, exporting off the event loop, and download file names."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import IO

import pytest

from slidebatch.errors import InputError
from slidebatch.exporters.base import (
    ExportDeck,
    FailedSlides,
    export_to_tempfile,
    exporter_for,
    parse_failed,
)
from slidebatch.exporters.filename import (
    content_disposition,
    export_filename,
    slide_file_name,
    slugify,
)


@pytest.mark.parametrize(
    ("fmt", "media_type", "extension"),
    [
        (
            "pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "pptx",
        ),
        (".PDF", "application/pdf", "pdf"),
        ("zip", "application/zip", "zip"),
    ],
)
def test_exporter_for_known_formats(fmt: str, media_type: str, extension: str) -> None:
    """Each format name gives an exporter with its media type and extension."""
    exporter = exporter_for(fmt)
    assert (exporter.media_type, exporter.extension) == (media_type, extension)


def test_exporter_for_unknown_format() -> None:
    """An unknown format is an InputError that lists the choices."""
    with pytest.raises(InputError, match="pptx, pdf, zip"):
        exporter_for("docx")


def test_parse_failed() -> None:
    """'placeholder' and 'omit' parse; anything else is an InputError."""
    assert parse_failed(" OMIT ") is FailedSlides.OMIT
    with pytest.raises(InputError, match="placeholder, omit"):
        parse_failed("skip")


class _RecordingExporter:
    media_type = "text/plain"
    extension = "txt"

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None

    def export(
        self, deck: ExportDeck, out: IO[bytes], *, failed: FailedSlides = FailedSlides.PLACEHOLDER
    ) -> None:
        self.thread = threading.current_thread()
        out.write(f"{deck.title}:{failed}".encode())


async def test_export_to_tempfile_runs_in_a_worker_thread(
    make_deck: Callable[..., ExportDeck],
) -> None:
    """The export runs off the event loop's thread and the file comes back rewound."""
    exporter = _RecordingExporter()
    with await export_to_tempfile(exporter, make_deck(1), failed=FailedSlides.OMIT) as spool:
        assert spool.read() == b"Quarterly review:omit"
    assert exporter.thread is not None
    assert exporter.thread is not threading.current_thread()
    assert asyncio.get_running_loop().is_running()


async def test_real_export_through_the_thread(make_deck: Callable[..., ExportDeck]) -> None:
    """A real PPTX export through export_to_tempfile gives a ZIP-based file."""
    with await export_to_tempfile(exporter_for("pptx"), make_deck(2)) as spool:
        assert spool.read(2) == b"PK"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Report.pptx", 'attachment; filename="Report.pptx"'),
        (
            "季度报告.pptx",
            "attachment; filename=\"download.pptx\"; filename*=UTF-8''"
            "%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A.pptx",
        ),
        (
            "Café plan.pdf",
            "attachment; filename=\"Cafe plan.pdf\"; filename*=UTF-8''Caf%C3%A9%20plan.pdf",
        ),
        ('a"b\\c\r\n.zip', 'attachment; filename="a_b_c_.zip"'),
    ],
)
def test_content_disposition(name: str, expected: str) -> None:
    """ASCII names stay plain; others get an ASCII fallback plus an RFC 5987 filename*."""
    assert content_disposition(name) == expected


def test_header_value_has_no_line_breaks_or_quotes_inside() -> None:
    """Whatever the title, the header value is one line and its quoted part is closed."""
    value = content_disposition(export_filename('x"\r\nSet-Cookie: a=b', "pdf"))
    assert "\r" not in value
    assert "\n" not in value
    assert value.count('"') == 2


def test_export_filename_and_slugify() -> None:
    """Titles make readable file names; slugs fold Latin accents and keep other scripts."""
    assert export_filename("Q3: plan / 计划", "pptx") == "Q3 plan 计划.pptx"
    assert export_filename("   ", "zip") == "deck.zip"
    assert slugify("Ünïcödé Title!") == "unicode-title"
    assert slugify("营收") == "营收"
    assert slugify("2025 年度战略规划：市场") == "2025-年度战略规划-市场"
    assert slugify("مرحبا بالعالم") == "مرحبا-بالعالم"
    assert slugify("../..\\:*?<>|") == "slide"


def test_a_long_non_ascii_title_gives_a_name_the_file_system_takes() -> None:
    """A 180-character Chinese title is cut in bytes: the name and its .part temp fit 255 bytes."""
    name = export_filename("区块链" * 60, "pptx")
    assert name.endswith(".pptx")
    assert len(f".{name}.62182831ac73.part".encode()) <= 255
    assert name.startswith("区块链")


def test_slide_file_names_are_unique_by_position() -> None:
    """Slides sharing a title get distinct NN- prefixes from their position in the deck."""
    names = {slide_file_name(i, 3, "Same", "png") for i in (1, 2, 3)}
    assert names == {"01-same.png", "02-same.png", "03-same.png"}
    assert slide_file_name(7, 120, "市场", ".webp") == "007-市场.webp"
