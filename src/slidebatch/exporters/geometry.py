"""Page and slide sizes from an aspect ratio, and the crop that fills a page without distortion.

Every format uses the same physical size: the long side is PowerPoint's widescreen width,
13.333 in (12,192,000 EMU = 960 pt), the short side follows the ratio. 16:9 is therefore
exactly PowerPoint's own 13.333 x 7.5 in, and a PDF page matches the PPTX slide.
"""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.core.aspect import AspectRatio

EMU_PER_INCH = 914_400
EMU_PER_POINT = 12_700
LONG_SIDE_EMU = 12_192_000  # 13.333 in


@dataclass(frozen=True, slots=True)
class Crop:
    """Fractions cut from each edge of an image (python-pptx's ``crop_*`` convention)."""

    left: float = 0.0
    top: float = 0.0
    right: float = 0.0
    bottom: float = 0.0


def slide_size_emu(aspect: AspectRatio) -> tuple[int, int]:
    """Slide ``(width, height)`` in EMU: long side 13.333 in, the other from the ratio."""
    if aspect.width >= aspect.height:
        return LONG_SIDE_EMU, round(LONG_SIDE_EMU * aspect.height / aspect.width)
    return round(LONG_SIDE_EMU * aspect.width / aspect.height), LONG_SIDE_EMU


def page_size_pt(aspect: AspectRatio) -> tuple[float, float]:
    """PDF page ``(width, height)`` in points, the same size as the PPTX slide."""
    width, height = slide_size_emu(aspect)
    return width / EMU_PER_POINT, height / EMU_PER_POINT


def cover_crop(image_w: int, image_h: int, box_w: float, box_h: float) -> Crop:
    """The centred crop that makes an image fill a box exactly at the box's ratio.

    Upstream sizes are close to, not exactly, the nominal ratio (16:9 at 1K is 1344x768,
    i.e. 7:4): cropping a sliver beats stretching the picture.
    """
    if image_w <= 0 or image_h <= 0 or box_w <= 0 or box_h <= 0:
        return Crop()
    image_ratio = image_w / image_h
    box_ratio = box_w / box_h
    if abs(image_ratio / box_ratio - 1) < 1e-6:
        return Crop()
    if image_ratio > box_ratio:  # too wide: cut the sides
        cut = (1 - box_ratio / image_ratio) / 2
        return Crop(left=cut, right=cut)
    cut = (1 - image_ratio / box_ratio) / 2  # too tall: cut top and bottom
    return Crop(top=cut, bottom=cut)
