"""Aspect ratios: parsing, reduction, the upstream size table and render sizes."""

from __future__ import annotations

import pytest

from slidebatch.core.aspect import AspectRatio, ImageSize
from slidebatch.errors import InputError


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16:9", (1344, 768)),
        ("4:3", (1184, 864)),
        ("1:1", (1024, 1024)),
        ("9:16", (768, 1344)),
        ("21:9", (1536, 672)),
        ("3:2", (1248, 832)),
    ],
)
def test_standard_ratios_use_the_upstream_1k_table(text: str, size: tuple[int, int]) -> None:
    """The standard ratios map to the documented 1K sizes, and keep their usual names."""
    ratio = AspectRatio.parse(text)
    assert ratio.is_standard
    assert ratio.upstream_size() == size
    assert str(ratio) == text


def test_2k_and_4k_are_multiples() -> None:
    """2K and 4K are two and four times the 1K size."""
    ratio = AspectRatio.parse("16:9")
    assert ratio.upstream_size(ImageSize.K2) == (2688, 1536)
    assert ratio.upstream_size(ImageSize.K4) == (5376, 3072)


def test_custom_ratio_is_computed_near_one_megapixel() -> None:
    """A custom ratio gets a computed size of about one megapixel, in multiples of 16."""
    width, height = AspectRatio.parse("1.91:1").upstream_size()
    assert width % 16 == 0
    assert height % 16 == 0
    assert abs(width / height - 1.91) < 0.03
    assert 0.9e6 < width * height < 1.1e6


def test_parse_reduces_and_accepts_separators() -> None:
    """32:18, 16x9 and 16/9 all mean 16:9."""
    assert AspectRatio.parse("32:18") == AspectRatio.parse("16x9") == AspectRatio(16, 9)
    assert AspectRatio.parse(" 16/9 ") == AspectRatio(16, 9)


@pytest.mark.parametrize("text", ["wide", "16:0", "0:9", "169:1", "1:100", "-16:9", ""])
def test_bad_ratios_are_refused_with_a_message(text: str) -> None:
    """Nonsense, zero terms and ratios outside 1:4..4:1 are InputErrors."""
    with pytest.raises(InputError, match="aspect_ratio"):
        AspectRatio.parse(text)


def test_render_size_keeps_the_long_side() -> None:
    """render_size puts the long side on the longer axis, for landscape and portrait."""
    assert AspectRatio(16, 9).render_size(1920) == (1920, 1080)
    assert AspectRatio(9, 16).render_size(1920) == (1080, 1920)
    assert AspectRatio.parse("21:9").render_size(1920) == (1920, 823)
