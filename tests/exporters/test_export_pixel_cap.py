"""Exporters share the providers' pixel cap, decided from the header before decoding."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from slidebatch.core.pixels import DEFAULT_MAX_PIXELS, read_header
from slidebatch.exporters.images import load_image
from slidebatch.testing.fake_images import huge_png


def test_a_bomb_header_is_refused_without_decoding(tmp_path: Path) -> None:
    """A 16000x9000 PNG header over a few bytes is no usable image (and never decoded)."""
    path = tmp_path / "bomb.png"
    path.write_bytes(huge_png())
    assert path.stat().st_size < 10_000
    assert read_header(path.read_bytes()).describe().startswith("16000x9000")
    assert load_image(path) is None


def test_the_cap_is_the_setting_not_a_second_constant(tmp_path: Path) -> None:
    """An ordinary image passes the default cap and fails a smaller one given by the deck."""
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), (10, 20, 30)).save(buffer, format="PNG")
    path = tmp_path / "slide.png"
    path.write_bytes(buffer.getvalue())
    assert load_image(path, max_pixels=DEFAULT_MAX_PIXELS) is not None
    assert load_image(path, max_pixels=320 * 180 - 1) is None
