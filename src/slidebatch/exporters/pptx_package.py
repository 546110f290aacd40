"""Saving a python-pptx presentation with its images stored, not deflated.

python-pptx deflates every member of the package. PNG and JPEG are compressed already, so
that buys a few bytes for most of the export's time (about 60 ms per 1920x1080 slide, ten
times the rest of the work). OOXML readers accept stored members (PowerPoint itself stores
media), so the images go in as they are and only the XML is deflated.

This leans on python-pptx's package writer (``pptx.opc.serialized``), which is internal:
when it is not shaped as expected, :func:`save` falls back to the ordinary ``save``.
"""

from __future__ import annotations

import zipfile
from typing import IO, Any

from pptx.opc import serialized

# Media formats that deflate gains nothing on.
STORED_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "webp"})


def save(prs: Any, out: IO[bytes]) -> None:
    """Write ``prs`` to ``out`` with media members stored; the plain save when unsupported."""
    package = prs.part.package
    if not _supported(package):
        prs.save(out)
        return
    _StoredMediaPackageWriter(out, package._rels, tuple(package.iter_parts()))._write()


def _supported(package: Any) -> bool:
    return (
        hasattr(serialized, "PackageWriter")
        and hasattr(serialized, "_ZipPkgWriter")
        and hasattr(serialized.PackageWriter, "_write_parts")
        and hasattr(package, "_rels")
    )


class _StoredMediaZipWriter(serialized._ZipPkgWriter):
    def write(self, pack_uri: Any, blob: bytes) -> None:
        stored = pack_uri.ext.lower() in STORED_EXTENSIONS
        compress = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        self._zipf.writestr(pack_uri.membername, blob, compress_type=compress)


class _StoredMediaPackageWriter(serialized.PackageWriter):
    def _write(self) -> None:
        # Same steps as python-pptx's own _write, with our zip writer.
        with _StoredMediaZipWriter(self._pkg_file) as phys_writer:
            self._write_content_types_stream(phys_writer)
            self._write_pkg_rels(phys_writer)
            self._write_parts(phys_writer)
