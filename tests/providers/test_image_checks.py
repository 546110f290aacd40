"""The check an upstream's image passes before it is a result: PNGs by their checksums."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageFile

from slidebatch.errors import TransientProviderError
from slidebatch.providers.images import inspect_image


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (30, 60, 120)).save(buffer, format="PNG")
    return buffer.getvalue()


def _idat_at(data: bytes) -> int:
    """Where the first IDAT chunk's data starts."""
    at = data.index(b"IDAT")
    assert struct.unpack(">I", data[at - 4 : at])[0] > 2
    return at + 4


@pytest.fixture
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding pixels fails: whatever passes did not decode them."""

    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.usefixtures("no_pixel_decoding")
def test_a_png_is_checked_by_its_checksums_without_decoding_pixels() -> None:
    """A whole PNG passes with its size, its pixels never inflated (4 ms of CPU per slide at
    1344x768, the server's largest cost under bench --load)."""
    assert inspect_image(_png()) == ("image/png", 64, 36)


def test_a_png_with_an_altered_image_byte_does_not_pass() -> None:
    """One byte of the compressed pixels changed: its chunk's CRC no longer matches."""
    data = bytearray(_png())
    data[_idat_at(bytes(data)) + 1] ^= 0x55
    with pytest.raises(TransientProviderError, match="does not decode"):
        inspect_image(bytes(data))


def test_a_cut_png_does_not_pass() -> None:
    """A PNG cut inside its image data (an answer cut short) is refused."""
    data = _png()
    with pytest.raises(TransientProviderError, match="does not decode"):
        inspect_image(data[: _idat_at(data) + 5])


@pytest.mark.usefixtures("no_pixel_decoding")
def test_a_jpeg_is_still_decoded() -> None:
    """JPEG has no checksums to check: its pixels are decoded (here refused by the fixture)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (30, 60, 120)).save(buffer, format="JPEG")
    with pytest.raises(AssertionError, match="pixels were decoded"):
        inspect_image(buffer.getvalue())
