"""Real PNGs for the fake upstream: a flat colour and a few shapes, cached per size."""

from __future__ import annotations

import io
import threading

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
        key = (width, height, variant)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        data = _paint(width, height, variant)
        with self._lock:
            self._cache[key] = data
        return data


def _paint(width: int, height: int, variant: str) -> bytes:
    background, accent = _COLOURS.get(variant, _COLOURS["final"])
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    unit = max(1, min(width, height) // 8)
    draw.rectangle((unit, unit, width - unit, unit * 2), fill=accent)
    draw.ellipse((unit, unit * 3, unit * 4, unit * 6), fill=accent)
    draw.rectangle((unit * 5, unit * 3, width - unit, unit * 4), outline=accent, width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
