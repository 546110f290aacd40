"""Template cover placeholders: a flat colour with centred text, drawn locally as PNG.

The seed's frontend shows its built-in templates with ``/api/placeholder/{w}/{h}/{bg}/{fg}``
covers; the seed fetched them from a placeholder web service, here they never leave the box.
"""

from __future__ import annotations

import io
import re

from PIL import Image, ImageDraw

from slidebatch.errors import InputError
from slidebatch.render.fonts import find_fonts, load_face
from slidebatch.render.palette import RGB

MAX_SIDE = 2000
MAX_TEXT = 60
_HEX = re.compile(r"^(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def parse_colour(text: str) -> RGB:
    """``8B0012`` or ``fff`` (an optional ``#`` allowed) as RGB; ``InputError`` otherwise."""
    code = text.removeprefix("#")
    if not _HEX.match(code):
        raise InputError(f"colour {text!r} is not a 3- or 6-digit hex code")
    if len(code) == 3:
        code = "".join(c * 2 for c in code)
    return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16)


def placeholder_png(width: int, height: int, background: RGB, ink: RGB, text: str) -> bytes:
    """A ``width`` x ``height`` PNG in ``background`` with ``text`` centred in ``ink``."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise InputError(f"width and height are 1 to {MAX_SIDE} pixels")
    label = " ".join(text.split())[:MAX_TEXT] or f"{width} x {height}"
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    fonts = find_fonts()  # cached per process
    size = max(8, min(height // 5, int(width * 0.8 / max(1, len(label)))))
    font = load_face(fonts.bold, size)
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    x = (width - (right - left)) / 2 - left
    y = (height - (bottom - top)) / 2 - top
    draw.text((x, y), label, fill=ink, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
