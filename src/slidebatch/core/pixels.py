"""The one pixel cap for slide images, read from an image's header before any decoding.

A PNG of a few hundred kilobytes can claim 16000x9000 pixels and cost gigabytes to decode, so
the size is read from the header first (no pixel is decoded) and an image over the cap is
refused by name: providers fail the attempt permanently, exporters skip the slide.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# A 4K 21:9 slide is about 17 megapixels; twice that leaves room and stays far from a bomb.
DEFAULT_MAX_PIXELS = 40_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


class ImageHeaderError(ValueError):
    """The bytes are not an image Pillow can read the header of."""


class ImageTooLarge(ImageHeaderError):
    """The header claims more pixels than Pillow will even open (a decompression bomb)."""


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the header says: Pillow's format name, its MIME type and the pixel size."""

    format: str
    mime_type: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def over(self, max_pixels: int) -> bool:
        """Whether the image is larger than ``max_pixels`` (or has no size at all)."""
        return self.pixels > max_pixels or self.width <= 0 or self.height <= 0

    def describe(self) -> str:
        return f"{self.width}x{self.height} ({self.pixels / 1e6:.1f} megapixels)"


def read_header(data: bytes) -> ImageHeader:
    """The format and size from ``data``'s header; nothing is decoded.

    PNG is read straight from its IHDR chunk; other formats through Pillow's lazy open, whose
    own bomb guard (far above any sane cap) becomes :class:`ImageTooLarge`.
    """
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return ImageHeader("PNG", "image/png", width, height)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageHeaderError(str(exc) or type(exc).__name__) from exc
    return ImageHeader(fmt, _FORMATS.get(fmt, "application/octet-stream"), width, height)
