"""Real images for the fake upstream: a flat colour and a few shapes, cached per size.

PNG by default; JPEG and WebP because real upstreams send them whatever was asked. Also a
"bomb": a valid PNG header claiming 16000x9000 pixels over a few hundred bytes of data.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib

from PIL import Image, ImageDraw

# The final image is blue-ish, a draft grey: a test that took the draft sees it at once.
_COLOURS = {"final": ((32, 64, 128), (240, 200, 64)), "draft": ((128, 128, 128), (90, 90, 90))}


class ImagePainter:
    """Paints and caches the fake's PNG answers (a few kB each: flat areas compress well)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int, str], bytes] = {}
        self._lock = threading.Lock()

    def png(self, width: int, height: int, variant: str = "final") -> bytes:
        """A ``width x height`` PNG; ``variant`` is ``final`` or ``draft``."""
        return self.image(width, height, variant, "PNG")

    def image(self, width: int, height: int, variant: str = "final", fmt: str = "PNG") -> bytes:
        """A ``width x height`` image in ``fmt`` (PNG, JPEG or WEBP)."""
        key = (width, height, f"{variant}/{fmt.upper()}")
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        data = _paint(width, height, variant, fmt.upper())
        with self._lock:
            self._cache[key] = data
        return data


def huge_png(width: int = 16000, height: int = 9000) -> bytes:
    """A PNG whose header says ``width x height``; its data is one row (it never decodes).

    Decoding it would need gigabytes; a reader that trusts the header refuses it for free.
    """
    row = zlib.compress(b"\x00" * (width + 1))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def _paint(width: int, height: int, variant: str, fmt: str = "PNG") -> bytes:
    background, accent = _COLOURS.get(variant, _COLOURS["final"])
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    unit = max(1, min(width, height) // 8)
    draw.rectangle((unit, unit, width - unit, unit * 2), fill=accent)
    draw.ellipse((unit, unit * 3, unit * 4, unit * 6), fill=accent)
    draw.rectangle((unit * 5, unit * 3, width - unit, unit * 4), outline=accent, width=3)
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.save(buffer, format=fmt, quality=80)
    return buffer.getvalue()
