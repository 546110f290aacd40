"""What every exporter takes (``ExportDeck``), what it is (``Exporter``), and how to pick one.

Exporters are synchronous CPU work (Pillow, python-pptx, img2pdf). Callers on the event
loop use :func:`export_to_tempfile`, which runs the export in a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib
import tempfile
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.pixels import DEFAULT_MAX_PIXELS
from slidebatch.errors import InputError

# Exports up to this size stay in memory; larger ones spill to a temporary file.
SPOOL_MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExportSlide:
    """One slide as exporters see it; ``image_path`` is None when there is no image."""

    page_num: int
    title: str
    content_text: str
    visual_desc: str
    slide_type: str
    image_path: Path | None
    status: str  # done | error | cancelled | pending | generating
    error_message: str | None = None
    placeholder: bool = False  # the image is a locally drawn stand-in
    client_id: str = ""
    final_prompt: str = ""
    generation_time: float | None = None
    attempts: int = 0
    warnings: tuple[str, ...] = ()
    cost: float | None = None  # USD the provider reported (usage.cost) for the latest image
    spent: float | None = None  # USD of every paid image (replaced ones too); None: as cost
    cost_estimated: bool = False  # cost is the model's price (the provider's was lost)


@dataclass(frozen=True, slots=True)
class ExportDeck:
    """A deck ready to export: its title, shape and slides in page order."""

    title: str
    aspect_ratio: AspectRatio
    created_at: datetime
    slides: tuple[ExportSlide, ...]
    batch_id: str = ""
    style_prompt: str = ""
    provider: str = ""
    total_time: float | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS  # IMAGE_MAX_PIXELS: larger images count as failed


class FailedSlides(StrEnum):
    """What an export does with a slide that has no usable image."""

    PLACEHOLDER = "placeholder"  # a clearly marked page saying the slide failed
    OMIT = "omit"  # left out


class Exporter(Protocol):
    """Writes a deck in one file format to a binary stream."""

    @property
    def media_type(self) -> str: ...

    @property
    def extension(self) -> str: ...

    def export(
        self, deck: ExportDeck, out: IO[bytes], *, failed: FailedSlides = FailedSlides.PLACEHOLDER
    ) -> None:
        """Write ``deck`` to ``out`` (any binary stream, e.g. a ``BinaryIO``).

        Never raises for a missing or corrupt slide image: that slide counts as failed.
        Raises ``InputError`` only when nothing at all would be exported.
        """
        ...


# Imported lazily so that base.py stays importable without python-pptx or img2pdf loaded.
_EXPORTERS = {
    "pptx": ("slidebatch.exporters.pptx", "PptxExporter"),
    "pdf": ("slidebatch.exporters.pdf", "PdfExporter"),
    "zip": ("slidebatch.exporters.zip", "ZipExporter"),
}
FORMATS = tuple(_EXPORTERS)


def exporter_for(fmt: str) -> Exporter:
    """The exporter for ``"pptx"``, ``"pdf"`` or ``"zip"`` (case and a leading dot ignored)."""
    key = fmt.strip().lower().lstrip(".") if isinstance(fmt, str) else ""
    if key not in _EXPORTERS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    module_name, class_name = _EXPORTERS[key]
    exporter: Exporter = getattr(importlib.import_module(module_name), class_name)()
    return exporter


def parse_failed(value: str) -> FailedSlides:
    """``"placeholder"`` or ``"omit"``; InputError otherwise."""
    try:
        return FailedSlides(value.strip().lower())
    except ValueError:
        choices = ", ".join(f.value for f in FailedSlides)
        raise InputError(
            f"unknown failed-slide handling {value!r}; choose one of {choices}"
        ) from None


def export_to_tempfile_sync(
    exporter: Exporter, deck: ExportDeck, *, failed: FailedSlides = FailedSlides.PLACEHOLDER
) -> IO[bytes]:
    """Export into a spooled temporary file, rewound; the caller closes it."""
    # Not a with-block: the open file is handed to the caller, who streams and closes it.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES, mode="w+b")  # noqa: SIM115
    try:
        exporter.export(deck, spool, failed=failed)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


async def export_to_tempfile(
    exporter: Exporter, deck: ExportDeck, *, failed: FailedSlides = FailedSlides.PLACEHOLDER
) -> IO[bytes]:
    """:func:`export_to_tempfile_sync` in a worker thread, so the event loop keeps serving."""
    return await asyncio.to_thread(export_to_tempfile_sync, exporter, deck, failed=failed)
