"""The one pixel cap for slide images, read from an image's header before any decoding.

A PNG of a few hundred kilobytes can claim 16000x9000 pixels and cost gigabytes to decode, so
the size is read from the header first (no pixel is decoded) and an image over the cap is
refused by name: providers fail the attempt permanently, exporters skip the slide.

Pixels alone do not bound the work, so :func:`decode_problem` also reads, without decoding:
the number of JPEG scans (a progressive JPEG may repeat cheap refinement scans hundreds of
times, each one a pass over every coefficient: 300 scans of a 4-megapixel image took 28 s
here against 0.24 s for its 10-scan original) and whether a PNG or WebP is an animation
(a slide is one still image). Untrusted uploads are also limited to the four web formats, so
no other Pillow plug-in (TIFF, PSD, EPS...) ever parses them.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from slidebatch.errors import InputError

# A 4K 21:9 slide is about 17 megapixels; twice that leaves room and stays far from a bomb.
DEFAULT_MAX_PIXELS = 40_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# libjpeg writes 10 scans for a progressive colour JPEG, mozjpeg a few more; an EXIF
# thumbnail adds its own. Far more is a crafted file.
MAX_JPEG_SCANS = 32
_JPEG_SOS = b"\xff\xda"  # start of scan; entropy-coded data stuffs 0xFF as FF 00


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


def read_header(data: bytes, *, formats: tuple[str, ...] | None = None) -> ImageHeader:
    """The format and size from ``data``'s header; nothing is decoded.

    PNG is read straight from its IHDR chunk; other formats through Pillow's lazy open, whose
    own bomb guard (far above any sane cap) becomes :class:`ImageTooLarge`. ``formats``
    (Pillow names) limits which plug-ins may try (None: any Pillow reads).
    """
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return ImageHeader("PNG", "image/png", width, height)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as probe:
                fmt = probe.format or ""
                width, height = probe.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageHeaderError(str(exc) or type(exc).__name__) from exc
    return ImageHeader(fmt, _FORMATS.get(fmt, "application/octet-stream"), width, height)


def jpeg_scans(data: bytes) -> int:
    """How many scans a JPEG has (0 for other formats), counted without decoding."""
    return data.count(_JPEG_SOS) if data.startswith(b"\xff\xd8") else 0


def is_animation(data: bytes) -> bool:
    """Whether ``data`` is an animated PNG (``acTL`` before the pixels) or an animated WebP."""
    if data.startswith(_PNG_SIGNATURE):
        offset = len(_PNG_SIGNATURE)
        while offset + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[offset : offset + 8])
            if kind == b"acTL":
                return True
            if kind == b"IDAT":
                return False
            offset += 12 + length
        return False
    if data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8X" and len(data) > 20:
        return bool(data[20] & 0x02)  # the VP8X animation flag
    return False


def decode_problem(
    data: bytes, header: ImageHeader, *, max_pixels: int, still: bool = True
) -> str | None:
    """Why decoding ``data`` would cost more than a still image of its size (None: fine).

    Checked from the bytes alone: the pixel cap, the JPEG scan count, and (``still``)
    animation.
    """
    if header.over(max_pixels):
        return f"{header.describe()}, over {max_pixels:,} pixels"
    scans = jpeg_scans(data)
    if scans > MAX_JPEG_SCANS:
        return f"a JPEG of {scans} scans; at most {MAX_JPEG_SCANS} are decoded"
    if still and is_animation(data):
        return "an animation; a slide image is one still picture"
    return None


def check_upload(data: bytes, *, what: str, still: bool = True) -> ImageHeader:
    """``data``'s header when a client's image is safe to decode; ``InputError`` saying why not.

    Only PNG, JPEG, WebP and GIF are parsed at all; then :func:`decode_problem` applies with
    the default pixel cap.
    """
    try:
        header = read_header(data, formats=UPLOAD_FORMATS)
    except ImageTooLarge as exc:
        raise InputError(f"{what} is larger than any image accepted ({exc})") from exc
    except ImageHeaderError as exc:
        raise InputError(f"{what} is not an image (PNG, JPEG, WebP or GIF)") from exc
    problem = decode_problem(data, header, max_pixels=DEFAULT_MAX_PIXELS, still=still)
    if problem is not None:
        raise InputError(f"{what} is {problem}; it is not decoded")
    return header
