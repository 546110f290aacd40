"""The offline style analysis and the template placeholders."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from slidebatch.assist.offline_style import read_tone, style_prompt
from slidebatch.authoring.placeholder import parse_colour, placeholder_png
from slidebatch.errors import InputError, LimitExceeded
from slidebatch.render.palette import palette_from_style


def _png(background: tuple[int, int, int], band: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", (200, 120), background)
    image.paste(band, (0, 0, 200, 30))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_dark_image_reads_as_dark_with_its_colours_named() -> None:
    """A navy slide with a cyan band: background navy, primary cyan, dark and contrasty."""
    tone = read_tone("a.png", _png((11, 16, 33), (0, 255, 255)))
    assert tone.lightness < 0.25
    prompt = style_prompt([tone])
    assert "背景色 #0B1021" in prompt
    assert "主色 #00FFFF" in prompt
    assert "深色" in prompt


def test_the_prompt_drives_the_offline_renderer_s_palette() -> None:
    """render.palette reads the analysed colours back out of the prompt."""
    prompt = style_prompt([read_tone("a.png", _png((245, 241, 232), (139, 0, 18)))])
    palette = palette_from_style(prompt)
    assert palette.background == (245, 241, 232)
    assert palette.primary == (139, 0, 18)


def test_light_low_contrast_image() -> None:
    """A near-white image with a pale band is light, low in contrast and saturation."""
    tone = read_tone("a.png", _png((250, 250, 250), (235, 235, 235)))
    assert tone.lightness > 0.8
    assert tone.contrast < 0.12
    assert "明亮" in style_prompt([tone])


def test_not_an_image_and_too_big_are_refused() -> None:
    """Text is an InputError; more than 10 MB is LimitExceeded; empty is an InputError."""
    with pytest.raises(InputError, match="not an image"):
        read_tone("notes.txt", b"hello")
    with pytest.raises(LimitExceeded):
        read_tone("big.png", b"0" * (10 * 1024 * 1024 + 1))
    with pytest.raises(InputError, match="empty"):
        read_tone("empty.png", b"")


def test_placeholder_draws_the_background_and_the_text() -> None:
    """400x300 in the background colour, with ink pixels where the text is."""
    png = placeholder_png(400, 300, (0x8B, 0, 0x12), (255, 255, 255), "北大典雅")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (400, 300)
    assert image.getpixel((1, 1)) == (0x8B, 0, 0x12)
    assert (255, 255, 255) in {image.getpixel((x, 150)) for x in range(100, 300)}


def test_colours_parse_three_and_six_digits() -> None:
    """Hex codes with or without '#'; anything else is an InputError."""
    assert parse_colour("fff") == (255, 255, 255)
    assert parse_colour("#0B1021") == (11, 16, 33)
    with pytest.raises(InputError):
        parse_colour("red")
    with pytest.raises(InputError):
        placeholder_png(0, 10, (0, 0, 0), (1, 1, 1), "")
