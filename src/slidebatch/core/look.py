"""One look across a deck: the reference images every slide's request carries.

A batch may carry a few reference images (PNG, JPEG or WebP) that each slide's request sends
to the model as input images, so colours, textures and type hold across the deck. In
``anchor`` mode the cover is drawn first and its image joins the references of every other
slide. References are checked here, once, at the edge: a real image of a known type, within
the count and size bounds; anything else is the client's to fix (4xx).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from slidebatch.core.pixels import (
    DEFAULT_MAX_PIXELS,
    ImageHeaderError,
    decode_problem,
    read_header,
)
from slidebatch.errors import InputError, LimitExceeded

MAX_REFERENCES = 4
# Within the default MAX_BODY_BYTES (8 MB) once base64-encoded; upstreams cap inline images
# at a few megabytes too.
MAX_REFERENCE_BYTES = 5 * 1024 * 1024
REFERENCE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})


@dataclass(frozen=True, slots=True)
class ReferenceImage:
    """One checked reference image: its bytes and real type."""

    data: bytes
    mime_type: str

    @property
    def digest(self) -> str:
        """Short SHA-256 of the bytes (what logs and the fake upstream's record show)."""
        return hashlib.sha256(self.data).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Look:
    """A batch's references and whether the cover anchors the rest."""

    references: tuple[ReferenceImage, ...] = ()
    anchor: bool = False
    # The key of the slide that anchors (``slide.anchor_key``), as stored with the batch;
    # None before it is stored, or without anchor mode.
    anchor_key: int | None = None

    def __bool__(self) -> bool:
        return bool(self.references) or self.anchor

    @property
    def images(self) -> tuple[bytes, ...]:
        return tuple(r.data for r in self.references)


def check_reference(data: bytes, *, what: str = "reference image") -> ReferenceImage:
    """``data`` as a reference image; ``LimitExceeded`` or ``InputError`` saying what is wrong."""
    if len(data) > MAX_REFERENCE_BYTES:
        raise LimitExceeded(
            f"{what} is {len(data)} bytes; at most {MAX_REFERENCE_BYTES} are accepted",
            limit_name="MAX_REFERENCE_BYTES",
            limit=MAX_REFERENCE_BYTES,
        )
    if not data:
        raise InputError(f"{what} is empty")
    try:
        header = read_header(data)
    except ImageHeaderError as exc:
        raise InputError(f"{what} is not an image (PNG, JPEG or WebP)") from exc
    if header.mime_type not in REFERENCE_TYPES:
        raise InputError(f"{what} is {header.format or 'unknown'}; send PNG, JPEG or WebP")
    if header.over(DEFAULT_MAX_PIXELS):
        raise InputError(f"{what} is {header.describe()}; too many pixels")
    if (problem := decode_problem(data, header, max_pixels=DEFAULT_MAX_PIXELS)) is not None:
        raise InputError(f"{what} is {problem}; it is not decoded")
    return ReferenceImage(data, header.mime_type)


def check_references(images: list[bytes]) -> tuple[ReferenceImage, ...]:
    """Every image checked, at most ``MAX_REFERENCES`` of them."""
    if len(images) > MAX_REFERENCES:
        raise LimitExceeded(
            f"{len(images)} reference images; at most {MAX_REFERENCES} are accepted",
            limit_name="MAX_REFERENCES",
            limit=MAX_REFERENCES,
        )
    return tuple(
        check_reference(data, what=f"reference image {n}") for n, data in enumerate(images, 1)
    )


def decode_data_url(url: str, *, what: str = "reference image") -> bytes:
    """The bytes of a ``data:image/...;base64,...`` URL; ``InputError`` for anything else."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise InputError(f"{what} must be a data:image/...;base64 URL or a URL of this server")
    if len(payload) > MAX_REFERENCE_BYTES * 4 // 3 + 4:
        raise LimitExceeded(
            f"{what} is larger than {MAX_REFERENCE_BYTES} bytes",
            limit_name="MAX_REFERENCE_BYTES",
            limit=MAX_REFERENCE_BYTES,
        )
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{what} is not valid base64") from exc
