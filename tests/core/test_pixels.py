"""Decode work is bounded from the bytes alone: pixels, JPEG scans, animation, formats."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from tests.image_bombs import apng, many_scan_jpeg, tiff

from slidebatch.core.look import check_reference
from slidebatch.core.pixels import (
    MAX_JPEG_SCANS,
    check_upload,
    decode_problem,
    is_animation,
    jpeg_scans,
    read_header,
)
from slidebatch.errors import InputError


def _encoded(fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), (40, 90, 160)).save(buffer, fmt, **options)
    return buffer.getvalue()


def test_ordinary_images_pass() -> None:
    """A PNG, a baseline and a progressive JPEG, a WebP: no problem found."""
    for data in (
        _encoded("PNG"),
        _encoded("JPEG"),
        _encoded("JPEG", progressive=True),
        _encoded("WEBP"),
    ):
        assert decode_problem(data, read_header(data), max_pixels=40_000_000) is None


def test_a_jpeg_of_hundreds_of_scans_is_refused_before_decoding() -> None:
    """200 scans (Pillow would decode them all) is over MAX_JPEG_SCANS, named in the reason."""
    data = many_scan_jpeg(200)
    assert jpeg_scans(data) == 200 > MAX_JPEG_SCANS
    assert "200 scans" in (decode_problem(data, read_header(data), max_pixels=10**8) or "")


def test_an_animated_png_is_not_a_still_slide() -> None:
    """An APNG is refused as a slide image; allowed where animation is harmless (still=False)."""
    data = apng(3)
    assert is_animation(data)
    assert not is_animation(_encoded("PNG"))
    header = read_header(data)
    assert "animation" in (decode_problem(data, header, max_pixels=10**8) or "")
    assert decode_problem(data, header, max_pixels=10**8, still=False) is None


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (many_scan_jpeg(200), "scans"),
        (tiff(), "not an image \\(PNG, JPEG, WebP or GIF\\)"),
        (b"GIF89a" + b"\x00" * 40, "not an image \\(PNG, JPEG, WebP or GIF\\)"),
    ],
)
def test_uploads_are_refused_with_an_input_error(data: bytes, says: str) -> None:
    """A client's image that would cost too much, or is no web format, is an InputError."""
    with pytest.raises(InputError, match=says):
        check_upload(data, what="file 'x'")


def test_reference_images_get_the_same_bounds() -> None:
    """A reference image of 200 JPEG scans is refused at the edge (4xx)."""
    with pytest.raises(InputError, match="scans"):
        check_reference(many_scan_jpeg(200))
