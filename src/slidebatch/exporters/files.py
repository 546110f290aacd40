"""Writing an export to disk atomically: a half-written deck never carries the final name."""

from __future__ import annotations

from pathlib import Path

from slidebatch.atomic_file import atomic_write
from slidebatch.exporters.base import ExportDeck, FailedSlides, exporter_for


def write_export(
    deck: ExportDeck, fmt: str, path: Path, *, failed: FailedSlides = FailedSlides.PLACEHOLDER
) -> Path:
    """Export ``deck`` as ``fmt`` to ``path`` (via a temporary file renamed into place).

    The file's mode follows the umask, like the images next to it."""
    exporter = exporter_for(fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as out:
        exporter.export(deck, out, failed=failed)
    return path
