"""Aspect ratios (``W:H``) and the pixel sizes upstreams produce for them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from slidebatch.errors import InputError

# Ratios outside this band are not slides; they are typos (e.g. "169:1").
MIN_RATIO = 1 / 4
MAX_RATIO = 4.0
MAX_TERM = 1000

_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*$")


class ImageSize(StrEnum):
    """Upstream resolution tiers (OpenRouter ``image_size``, Gemini ``imageSize``)."""

    K1 = "1K"
    K2 = "2K"
    K4 = "4K"

    @property
    def scale(self) -> int:
        return {"1K": 1, "2K": 2, "4K": 4}[self.value]


# The 1K sizes Gemini image models return through OpenRouter and Gemini direct.
UPSTREAM_1K_SIZES: dict[tuple[int, int], tuple[int, int]] = {
    (1, 1): (1024, 1024),
    (2, 3): (832, 1248),
    (3, 2): (1248, 832),
    (3, 4): (864, 1184),
    (4, 3): (1184, 864),
    (4, 5): (896, 1152),
    (5, 4): (1152, 896),
    (9, 16): (768, 1344),
    (16, 9): (1344, 768),
    (7, 3): (1536, 672),  # 21:9 reduced
}

# Ratios whose usual name is not their reduced form.
_DISPLAY_NAMES = {(7, 3): "21:9"}


@dataclass(frozen=True, slots=True)
class AspectRatio:
    """A reduced ``W:H`` ratio such as 16:9."""

    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> AspectRatio:
        """Parse ``"16:9"`` (also ``16x9``, ``16/9``, decimals like ``1.91:1``); reduce it."""
        match = _PATTERN.match(text) if isinstance(text, str) else None
        if match is None:
            raise InputError(f"aspect_ratio {text!r} is not of the form W:H, e.g. 16:9")
        w_text, h_text = match.groups()
        width, height = _to_integers(w_text, h_text)
        if width <= 0 or height <= 0:
            raise InputError(f"aspect_ratio {text!r} must have positive terms")
        divisor = math.gcd(width, height)
        width, height = width // divisor, height // divisor
        if width > MAX_TERM or height > MAX_TERM:
            raise InputError(f"aspect_ratio {text!r} has terms above {MAX_TERM}")
        ratio = width / height
        if not MIN_RATIO <= ratio <= MAX_RATIO:
            raise InputError(f"aspect_ratio {text!r} is outside the supported range 1:4 to 4:1")
        return cls(width, height)

    def __str__(self) -> str:
        return _DISPLAY_NAMES.get((self.width, self.height), f"{self.width}:{self.height}")

    @property
    def ratio(self) -> float:
        return self.width / self.height

    @property
    def is_standard(self) -> bool:
        """True when upstreams have a native size for this ratio."""
        return (self.width, self.height) in UPSTREAM_1K_SIZES

    def upstream_size(self, size: ImageSize = ImageSize.K1) -> tuple[int, int]:
        """Pixel size an upstream returns at ``size``: the 1K table, else ~1 megapixel."""
        base = UPSTREAM_1K_SIZES.get((self.width, self.height))
        if base is None:
            base = _area_matched(self.ratio, 1024 * 1024, multiple=16)
        return base[0] * size.scale, base[1] * size.scale

    def render_size(self, long_side: int) -> tuple[int, int]:
        """Pixel size with the longer side ``long_side`` and the other rounded to keep the ratio."""
        if self.width >= self.height:
            return long_side, max(1, round(long_side * self.height / self.width))
        return max(1, round(long_side * self.width / self.height)), long_side

    def matches(self, width: int, height: int, tolerance: float = 0.02) -> bool:
        """True when a ``width x height`` image has this ratio within ``tolerance`` (relative)."""
        if width <= 0 or height <= 0:
            return False
        return abs((width / height) / self.ratio - 1) <= tolerance


def _to_integers(w_text: str, h_text: str) -> tuple[int, int]:
    if "." not in w_text and "." not in h_text:
        return int(w_text), int(h_text)
    # 1.91:1 -> 191:100; the reduction in parse() tidies the result.
    scale = 10 ** max(len(t.partition(".")[2]) for t in (w_text, h_text))
    return round(float(w_text) * scale), round(float(h_text) * scale)


def _area_matched(ratio: float, area: int, multiple: int) -> tuple[int, int]:
    width = math.sqrt(area * ratio)
    height = width / ratio
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )
