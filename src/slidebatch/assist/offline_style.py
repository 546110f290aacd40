"""The offline style analysis: a style prompt from reference images' palette and tone.

Each image is decoded (a file that is not an image is an ``InputError``), shrunk, and read
for its dominant colours, mean lightness, contrast (spread of luminance) and saturation.
The prompt names colours by hex next to the words ``背景``/``主色``/``点缀``/``文字``, which is
how ``render.palette`` reads a style prompt back, so the offline renderer draws in the same
colours. Runs in a worker thread (CPU work off the event loop).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from slidebatch.errors import InputError, LimitExceeded
from slidebatch.render.palette import RGB, hex_of, luminance, readable

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # the seed's per-file limit
MAX_IMAGES = 10
MAX_PIXELS = 40_000_000
_SAMPLE = 96
_COLOURS = 5


@dataclass(frozen=True, slots=True)
class ImageTone:
    """What one reference image looks like, in numbers."""

    colours: tuple[tuple[RGB, float], ...]  # dominant colours with their share, largest first
    lightness: float  # mean relative luminance, 0 (black) .. 1 (white)
    contrast: float  # standard deviation of luminance
    saturation: float  # mean HSV saturation


def check_upload(name: str, data: bytes) -> None:
    """``LimitExceeded`` for a file over the seed's 10 MB, ``InputError`` for an empty one."""
    if len(data) > MAX_IMAGE_BYTES:
        raise LimitExceeded(
            f"file {name!r} is {len(data)} bytes; at most {MAX_IMAGE_BYTES} per image",
            limit_name="MAX_STYLE_IMAGE_BYTES",
            limit=MAX_IMAGE_BYTES,
        )
    if not data:
        raise InputError(f"file {name!r} is empty")


def read_tone(name: str, data: bytes) -> ImageTone:
    """The tone of one uploaded image; ``InputError`` when it is not a decodable image."""
    check_upload(name, data)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise InputError(f"file {name!r} has too many pixels (at most {MAX_PIXELS})")
            opened.draft("RGB", (_SAMPLE * 2, _SAMPLE * 2))
            image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"file {name!r} is not an image Pillow can read") from exc
    image.thumbnail((_SAMPLE, _SAMPLE))
    pixels = _pixels(image)
    lum = [luminance(p) for p in pixels]
    mean = sum(lum) / len(lum)
    spread = (sum((v - mean) ** 2 for v in lum) / len(lum)) ** 0.5
    hsv = _pixels(image.convert("HSV"))
    saturation = sum(p[1] for p in hsv) / (255 * len(hsv))
    return ImageTone(_dominant(image), mean, spread, saturation)


def _pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    data = image.tobytes()
    return [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3)]


def _dominant(image: Image.Image) -> tuple[tuple[RGB, float], ...]:
    quantized = image.quantize(colors=_COLOURS, method=Image.Quantize.MEDIANCUT)
    palette: list[int] = list(quantized.getpalette() or [])
    counts = sorted(quantized.getcolors() or [], reverse=True)
    total = sum(count for count, _ in counts) or 1
    found = []
    for count, index in counts:
        start = int(index) * 3  # type: ignore[call-overload]  # "P" images count by index
        r, g, b = palette[start : start + 3]
        found.append(((r, g, b), count / total))
    return tuple(found)


def style_prompt(tones: list[ImageTone]) -> str:
    """A style prompt (Chinese, like the seed's) describing ``tones`` together."""
    if not tones:
        raise InputError("upload at least one image")
    shares: dict[RGB, float] = {}
    for tone in tones:
        for colour, share in tone.colours:
            shares[colour] = shares.get(colour, 0.0) + share / len(tones)
    ranked = sorted(shares, key=lambda c: -shares[c])
    background = ranked[0]
    rest = ranked[1:] or [background]
    primary = max(rest, key=lambda c: (_chroma(c), shares[c]))
    accent = next((c for c in rest if c != primary), primary)
    text = readable(background)
    lightness = sum(t.lightness for t in tones) / len(tones)
    contrast = sum(t.contrast for t in tones) / len(tones)
    saturation = sum(t.saturation for t in tones) / len(tones)
    lines = [
        f"整体风格：{_mood(lightness, contrast, saturation)}。",
        f"背景色 {hex_of(background)}，{_tone_word(lightness)}底色，画面留白{_space(contrast)}。",
        f"主色 {hex_of(primary)}，用于标题、色块和重点图形。",
        f"点缀色 {hex_of(accent)}，少量用于强调线条、图标和数字。",
        f"文字颜色 {hex_of(text)}，与背景对比清晰，标题加粗，正文简洁。",
        f"对比度{_level(contrast, 0.12, 0.25)}，饱和度{_level(saturation, 0.2, 0.5)}，"
        "各页保持同一配色与版式节奏。",
    ]
    return "\n".join(lines)


def _chroma(colour: RGB) -> int:
    return max(colour) - min(colour)


def _mood(lightness: float, contrast: float, saturation: float) -> str:
    tone = "明亮清爽" if lightness > 0.6 else "深色沉稳" if lightness < 0.25 else "中性平衡"
    colour = "鲜明活泼" if saturation > 0.5 else "低饱和、克制" if saturation < 0.2 else "色彩适中"
    punch = "层次分明" if contrast > 0.25 else "柔和统一" if contrast < 0.12 else "对比适度"
    return f"{tone}，{colour}，{punch}"


def _tone_word(lightness: float) -> str:
    return "浅色" if lightness > 0.6 else "深色" if lightness < 0.25 else "中间调"


def _space(contrast: float) -> str:
    return "充足" if contrast < 0.2 else "适中"


def _level(value: float, low: float, high: float) -> str:
    return "高" if value > high else "低" if value < low else "中等"
