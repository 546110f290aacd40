"""Writing an export to disk atomically: a half-written deck never carries the final name."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from slidebatch.exporters.base import ExportDeck, FailedSlides, exporter_for


def write_export(
    deck: ExportDeck, fmt: str, path: Path, *, failed: FailedSlides = FailedSlides.PLACEHOLDER
) -> Path:
    """Export ``deck`` as ``fmt`` to ``path`` (via a temporary file renamed into place)."""
    exporter = exporter_for(fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            exporter.export(deck, out, failed=failed)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path
