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
from slidebatch.exporters.filename import slugify
from slidebatch.exporters.images import load_image
from slidebatch.exporters.manifest import MANIFEST_NAME, manifest_dict


class ZipExporter:
    """Writes a deck as a ZIP of its images and its manifest."""

    media_type = "application/zip"
    extension = "zip"

    def export(
        self, deck: ExportDeck, out: IO[bytes], *, failed: FailedSlides = FailedSlides.PLACEHOLDER
    ) -> None:
        """Write ``deck`` to ``out``; slides without a usable image get ``file: null``."""
        width = max(2, len(str(len(deck.slides))))
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
                name = f"{position + 1:0{width}d}-{slugify(slide.title)}.{image.extension}"
                archive.writestr(_entry(name, deck), image.data, compress_type=zipfile.ZIP_STORED)
                files[position] = name
            kept_deck = replace(deck, slides=tuple(kept))
            manifest = json.dumps(manifest_dict(kept_deck, files), ensure_ascii=False, indent=2)
            archive.writestr(
                _entry(MANIFEST_NAME, deck), manifest.encode("utf-8"), zipfile.ZIP_DEFLATED
            )


def _entry(name: str, deck: ExportDeck) -> zipfile.ZipInfo:
    # The deck's own time, not "now": the same deck gives the same archive.
    moment = deck.created_at.timetuple()[:6]
    info = zipfile.ZipInfo(name, date_time=max(moment, (1980, 1, 1, 0, 0, 0)))
    info.external_attr = 0o644 << 16
    return info
