"""The image inside an upstream's answer: data URLs, downloads, decoding and the ratio check.

A model that "succeeds" with a broken file or the wrong shape is a failed attempt, so every
remote provider runs its bytes through :func:`verify_image` before calling it a result.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import math
import warnings
from dataclasses import dataclass

import httpx
from PIL import Image, UnidentifiedImageError

from slidebatch.config import AspectMismatchPolicy
from slidebatch.core.aspect import UPSTREAM_1K_SIZES, AspectRatio
from slidebatch.core.pixels import (
    DEFAULT_MAX_PIXELS,
    ImageHeaderError,
    ImageTooLarge,
    decode_problem,
    read_header,
)
from slidebatch.errors import PermanentProviderError, TransientProviderError
from slidebatch.providers.http import quote_upstream, read_capped, transport_error
from slidebatch.providers.outbound import DownloadRefused, OutboundPolicy

# What the image store keeps (by real type: .png, .jpg, .webp).
_SUPPORTED = frozenset({"image/png", "image/jpeg", "image/webp"})
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)


@dataclass(frozen=True, slots=True)
class CheckedImage:
    """Bytes that decoded, their type and size, and any warning about them."""

    data: bytes
    mime_type: str
    width: int
    height: int
    warnings: tuple[str, ...] = ()


def sniff_mime(data: bytes) -> str:
    """MIME type from the first bytes (for reference images sent upstream); PNG if unknown."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def to_data_url(data: bytes) -> str:
    """``data:<mime>;base64,...`` for an image sent to an upstream."""
    return f"data:{sniff_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def decode_base64(text: str, *, what: str, max_bytes: int | None = None) -> bytes:
    """Strict base64 (whitespace tolerated); bad text is a transient malformed answer.

    The size is checked from the text's length before decoding: an inline image over
    ``max_bytes`` is a permanent error naming its size (the same cap as a download).
    """
    compact = "".join(text.split())
    if max_bytes is not None and len(compact) // 4 * 3 > max_bytes:
        raise PermanentProviderError(
            f"the upstream's inline image is about {len(compact) // 4 * 3:,} bytes, over "
            f"IMAGE_DOWNLOAD_MAX_BYTES ({max_bytes:,} bytes)"
        )
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TransientProviderError(f"the upstream sent {what} that is not valid base64") from exc


def decode_data_url(url: str, *, max_bytes: int | None = None) -> bytes:
    """The bytes of a ``data:image/...;base64,`` URL."""
    header, sep, payload = url.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        kind = header.partition(";")[0][:40] if header.startswith("data:") else "not data:"
        raise TransientProviderError(
            f"the upstream sent an image URL that is not a base64 data URL ({kind!r})"
        )
    return decode_base64(payload, what="an image data URL", max_bytes=max_bytes)


async def download_image(
    client: httpx.AsyncClient,
    url: str,
    *,
    socket_timeout: float,
    max_bytes: int,
    policy: OutboundPolicy,
) -> bytes:
    """GET an image URL the ``policy`` allows, with a size cap; never the key.

    Redirects are followed by hand so that every hop passes the policy again. Like
    ``post_json``, no deadline of its own: the download is part of the attempt the dispatcher
    bounds; ``socket_timeout`` is the per-operation transport setting.
    """
    if not url.startswith(("https://", "http://")):
        raise TransientProviderError(f"the upstream sent an unusable image URL: {url[:60]!r}")
    try:
        return await _fetch(
            client, url, socket_timeout=socket_timeout, max_bytes=max_bytes, policy=policy
        )
    except httpx.HTTPError as exc:
        raise transport_error(exc, secret=None) from exc


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    socket_timeout: float,
    max_bytes: int,
    policy: OutboundPolicy,
) -> bytes:
    for _hop in range(policy.max_redirects + 1):
        pinned = await policy.pin(url)  # connect to the vetted address, never re-resolve
        request = pinned.request(client, timeout=socket_timeout)
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            location = response.headers.get("location")
            if response.is_redirect and location:
                url = str(pinned.url.join(location))  # relative to the name, not the address
                continue
            if response.status_code != 200:
                raise TransientProviderError(
                    f"downloading the image failed (HTTP {response.status_code})",
                    status=response.status_code,
                )
            what = "the upstream's image (IMAGE_DOWNLOAD_MAX_BYTES)"
            return await read_capped(response, max_bytes, what=what)
        finally:
            await response.aclose()
    raise DownloadRefused(f"the image URL redirected more than {policy.max_redirects} times")


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, int, int]:
    """Check the header against ``max_pixels``, then the file; return ``(mime, width, height)``.

    An over-cap image is a permanent error naming its size (the next attempt would draw it as
    large), decided before a single pixel is decoded. A file that does not decode is transient.
    A PNG is checked chunk by chunk (every CRC, the image data's too, through IEND) without
    inflating its pixels: a truncated or altered file fails that, and decoding a 1344x768
    PNG cost 4 ms of CPU (15 ms for a photographic one), the server's largest cost under
    ``bench --load``. JPEG and WebP carry no such checksums and are decoded.
    """
    try:
        header = read_header(data)
    except ImageTooLarge as exc:
        raise _over_cap(f"larger than Pillow opens ({exc})", max_pixels) from exc
    except ImageHeaderError as exc:
        raise TransientProviderError(
            f"the upstream's image does not decode: {quote_upstream(str(exc), None)}"
        ) from exc
    if header.over(max_pixels):
        raise _over_cap(header.describe(), max_pixels)
    if (problem := decode_problem(data, header, max_pixels=max_pixels)) is not None:
        raise PermanentProviderError(f"the upstream's image is {problem}; it is not decoded")
    if header.mime_type not in _SUPPORTED:
        raise TransientProviderError(
            f"the upstream's image is in an unsupported format ({header.format or 'unknown'})"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if header.mime_type == "image/png":
                    image.verify()
                else:
                    image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise TransientProviderError(
            f"the upstream's image does not decode: {quote_upstream(str(exc), None)}"
        ) from exc
    return header.mime_type, width, height


def _over_cap(size: str, max_pixels: int) -> PermanentProviderError:
    return PermanentProviderError(
        f"the upstream's image is {size}, over IMAGE_MAX_PIXELS ({max_pixels:,} pixels)"
    )


async def verify_image(
    data: bytes,
    *,
    expected: AspectRatio | None,
    policy: AspectMismatchPolicy,
    request_id: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> CheckedImage:
    """Decode off the event loop and check the ratio against ``expected`` (``None``: no check).

    A mismatch is a transient failure under ``retry`` (the next attempt usually gets it right)
    and a warning on the result under ``warn``. Decoding is bounded in work by ``max_pixels``;
    the wait for it is part of the attempt, which the dispatcher's deadline bounds.
    """
    if not data:
        raise TransientProviderError(
            "the upstream's image is empty", upstream_request_id=request_id
        )
    mime, width, height = await asyncio.to_thread(inspect_image, data, max_pixels=max_pixels)
    warnings_: tuple[str, ...] = ()
    if expected is not None and not expected.matches(width, height):
        text = f"the upstream's image is {width}x{height}, not the requested {expected}"
        if policy is AspectMismatchPolicy.RETRY:
            raise TransientProviderError(text, upstream_request_id=request_id)
        warnings_ = (text,)
    return CheckedImage(data=data, mime_type=mime, width=width, height=height, warnings=warnings_)


def nearest_standard(requested: AspectRatio) -> AspectRatio:
    """The upstream-native ratio closest to ``requested`` (itself when it is native).

    Upstreams accept only their listed ratios; a custom one (1.91:1) is asked as the nearest
    native one and checked against what was asked, with a warning naming the difference.
    """
    if requested.is_standard:
        return requested
    candidates = (AspectRatio(w, h) for w, h in UPSTREAM_1K_SIZES)
    nearest = min(candidates, key=lambda c: abs(math.log(c.ratio / requested.ratio)))
    # The table keeps upstream spellings ("21:9") that parse() reduces (7:3): same ratio.
    return requested if math.isclose(nearest.ratio, requested.ratio) else nearest


def ratio_warning(requested: AspectRatio, served: AspectRatio) -> tuple[str, ...]:
    """A warning when the upstream was asked ``served`` because it cannot do ``requested``."""
    if math.isclose(served.ratio, requested.ratio):
        return ()
    return (f"the upstream has no {requested} size; asked for the nearest, {served}",)
