"""Opening a slide's image once, checking it, and handing each exporter the bytes it can use.

A missing, truncated or unreadable file makes the slide a failed slide; it never stops
an export.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from slidebatch.core.pixels import DEFAULT_MAX_PIXELS, read_header

# Formats every target takes as they are (PowerPoint, PDF via img2pdf, a ZIP of images).
PASSTHROUGH_FORMATS = frozenset({"PNG", "JPEG"})
EXTENSIONS = {"PNG": "png", "JPEG": "jpg"}


@dataclass(frozen=True, slots=True)
class SlideImage:
    """A checked image: its bytes in PNG or JPEG, pixel size and whether it has transparency."""

    data: bytes
    format: str  # PNG | JPEG
    width: int
    height: int
    has_alpha: bool

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def load_image(path: Path | None, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> SlideImage | None:
    """Read and check ``path``; None when it is absent or not a decodable image.

    PNG and JPEG keep their original bytes (no re-encoding); other formats (WebP, GIF...)
    are converted to PNG once here. An image over ``max_pixels`` (``IMAGE_MAX_PIXELS``, the
    providers' cap too) is refused from its header, before any pixel is decoded.
    """
    if path is None:
        return None
    try:
        data = path.read_bytes()
        if read_header(data).over(max_pixels):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _check(data)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        # Pillow reports truncated or corrupt files as OSError/SyntaxError/ValueError.
        return None


def _check(data: bytes) -> SlideImage | None:
    with Image.open(io.BytesIO(data)) as probe:
        fmt = probe.format or ""
        width, height = probe.size
        if width <= 0 or height <= 0:
            return None
        has_alpha = probe.mode in ("RGBA", "LA", "PA") or "transparency" in probe.info
        if fmt == "PNG":
            # verify() walks every chunk and checks its CRC: it catches truncated and
            # corrupted files at a fraction of the cost of decoding the pixels.
            probe.verify()
            return SlideImage(data, fmt, width, height, has_alpha)
        # Other formats have no checksums: decoding every pixel is the only check.
        probe.load()
        if fmt in PASSTHROUGH_FORMATS:
            return SlideImage(data, fmt, width, height, has_alpha)
        converted = probe.convert("RGBA" if has_alpha else "RGB")
    buffer = io.BytesIO()
    converted.save(buffer, format="PNG")
    return SlideImage(buffer.getvalue(), "PNG", width, height, has_alpha)


def flatten(image: SlideImage, background: tuple[int, int, int] = (255, 255, 255)) -> SlideImage:
    """The image composited onto an opaque background, as PNG; unchanged when already opaque."""
    if not image.has_alpha:
        return image
    with Image.open(io.BytesIO(image.data)) as source:
        rgba = source.convert("RGBA")
    canvas = Image.new("RGB", rgba.size, background)
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return SlideImage(buffer.getvalue(), "PNG", image.width, image.height, has_alpha=False)
