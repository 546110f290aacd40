"""Small images that cost far more to decode than their size says (for the decode bounds)."""

from __future__ import annotations

import io

from PIL import Image


def many_scan_jpeg(scans: int = 200, size: tuple[int, int] = (64, 48)) -> bytes:
    """A progressive JPEG whose last refinement scan is repeated: Pillow decodes it all."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    last = data.rindex(b"\xff\xda")
    body = data[last:-2]  # the last scan, without the end-of-image marker
    extra = scans - data.count(b"\xff\xda")
    return data[:-2] + body * max(extra, 0) + b"\xff\xd9"


def apng(frames: int = 3, size: tuple[int, int] = (64, 36)) -> bytes:
    """An animated PNG of ``frames`` frames."""
    images = [Image.new("RGB", size, (n * 40 % 256, 80, 120)) for n in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "PNG", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def tiff(size: tuple[int, int] = (64, 36)) -> bytes:
    """A TIFF: an image Pillow reads, but not one of the web formats."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, "TIFF")
    return buffer.getvalue()
