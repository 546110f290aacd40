"""ZIP export: the slide images as ``NN-<slug>.png`` plus ``manifest.json``.

Images go in stored (no deflate): PNG and JPEG are already compressed, so deflating them
costs time for nothing. Failed slides have no file; with ``placeholder`` they stay in the
manifest with ``file: null`` and their error (the ZIP is a record, not a show), with
``omit`` they are left out of it. Unpacked, the ZIP is a directory ``slidebatch export``
reads back.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from typing import IO

from slidebatch.exporters.base import ExportDeck, ExportSlide, FailedSlides
from slidebatch.exporters.filename import slide_file_name
from slidebatch.exporters.images import SlideImage, load_image
from slidebatch.exporters.manifest import MANIFEST_NAME, manifest_dict

# Types the store keeps as the upstream sent them; load_image converts them for PPTX/PDF.
_KEPT_AS_STORED = frozenset({"webp", "gif"})


class ZipExporter:
    """Writes a deck as a ZIP of its images and its manifest."""

    media_type = "application/zip"
    extension = "zip"

    def export(
        self, deck: ExportDeck, out: IO[bytes], *, failed: FailedSlides = FailedSlides.PLACEHOLDER
    ) -> None:
        """Write ``deck`` to ``out``; slides without a usable image get ``file: null``."""
        kept: list[ExportSlide] = []
        files: dict[int, str | None] = {}
        with zipfile.ZipFile(out, "w") as archive:
            for slide in deck.slides:
                image = load_image(slide.image_path, max_pixels=deck.max_pixels)
                if image is None and failed is FailedSlides.OMIT:
                    continue
                position = len(kept)
                kept.append(slide)
                if image is None:
                    files[position] = None
                    continue
                data, extension = _original(slide, image)
                name = slide_file_name(position + 1, len(deck.slides), slide.title, extension)
                archive.writestr(_entry(name, deck), data, compress_type=zipfile.ZIP_STORED)
                files[position] = name
            kept_deck = replace(deck, slides=tuple(kept))
            manifest = json.dumps(manifest_dict(kept_deck, files), ensure_ascii=False, indent=2)
            archive.writestr(
                _entry(MANIFEST_NAME, deck), manifest.encode("utf-8"), zipfile.ZIP_DEFLATED
            )


def _original(slide: ExportSlide, image: SlideImage) -> tuple[bytes, str]:
    """The stored bytes and their real type (as in the output folder); ``image`` if unreadable.

    The ZIP is a record of what the upstream drew, so a WebP slide stays WebP, named so,
    like its file in ``generate``'s folder and its image URL.
    """
    path = slide.image_path
    suffix = path.suffix.lstrip(".").lower() if path is not None else ""
    if path is not None and suffix in _KEPT_AS_STORED:
        try:
            return path.read_bytes(), suffix
        except OSError:
            pass
    return image.data, image.extension


def _entry(name: str, deck: ExportDeck) -> zipfile.ZipInfo:
    # The deck's own time, not "now": the same deck gives the same archive.
    moment = deck.created_at.timetuple()[:6]
    info = zipfile.ZipInfo(name, date_time=max(moment, (1980, 1, 1, 0, 0, 0)))
    info.external_attr = 0o644 << 16
    return info
