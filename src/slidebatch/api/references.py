"""Reference images named in a request: inline data URLs, or images this server already has.

Only this server's own slide images are read by URL (``[/api]/images/<batch>/<file>``, relative or
on the host the request came to), straight from the image store: no URL is ever fetched, so a
request cannot make the server call anywhere else.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from slidebatch.core.look import (
    MAX_REFERENCES,
    Look,
    ReferenceImage,
    check_references,
    decode_data_url,
)
from slidebatch.errors import InputError, LimitExceeded, NotFound
from slidebatch.storage.images import ImageStore

_IMAGES_PREFIXES = ("/api/images/", "/images/")


def resolve_look(urls: list[str], *, anchor: bool, images: ImageStore, own_netloc: str) -> Look:
    """The look a request asks for; 4xx errors for anything not a usable image of ours."""
    if len(urls) > MAX_REFERENCES:
        raise LimitExceeded(
            f"{len(urls)} reference images; at most {MAX_REFERENCES} are accepted",
            limit_name="MAX_REFERENCES",
            limit=MAX_REFERENCES,
        )
    blobs = [
        _bytes_of(url, n, images=images, own_netloc=own_netloc) for n, url in enumerate(urls, 1)
    ]
    references: tuple[ReferenceImage, ...] = check_references(blobs)
    return Look(references=references, anchor=anchor)


def _bytes_of(url: str, n: int, *, images: ImageStore, own_netloc: str) -> bytes:
    what = f"reference image {n}"
    url = url.strip()
    if url.startswith("data:"):
        return decode_data_url(url, what=what)
    parts = urlsplit(url)
    ours = (not parts.scheme and not parts.netloc) or (
        parts.scheme in ("http", "https") and parts.netloc == own_netloc
    )
    prefix = next((p for p in _IMAGES_PREFIXES if parts.path.startswith(p)), None)
    if not ours or prefix is None:
        raise InputError(
            f"{what} must be a data:image/...;base64 URL or an /images/... URL of this server "
            "(other URLs are never fetched)"
        )
    batch_id, _, file_name = parts.path.removeprefix(prefix).partition("/")
    try:
        path = images.path(batch_id, file_name)
        return path.read_bytes()
    except (NotFound, OSError) as exc:
        raise InputError(f"{what}: no such image on this server") from exc
