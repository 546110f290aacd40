"""Templates: the seed's built-in styles plus the ones users save, with their cover images.

A cover sent as a ``data:`` URL (the seed's frontend reads the uploaded reference image
into one) is checked with Pillow and written under SEED_ASSETS_DIR/templates, so template
lists stay small and the cover is served from ``/assets/templates/<file>``.

A template also carries reference images (at most 4: PNG, JPEG or WebP, 5 MB each), kept the
same way as ``ref-<sha256>.<ext>`` files and listed in its settings as ``reference_images``;
a batch made from the template sends them with every slide. A template saved without any
whose cover was uploaded (the seed's frontend saves the analysed image as the cover) uses its
cover as the reference.

A cover drawn by this server (the seed's template page fills a missing cover by calling
``/slide/generate`` and saving the answered ``/api/images/...`` URL) is copied in as a
``drawn-<sha256>.<ext>`` file: the one-slide batch behind that URL goes at
BATCH_CLEANUP_HOURS, and the page would then draw the cover again on every visit. A drawn
cover is the model's reading of the style prompt, not an example of the user's, so it is
never sent as a reference. Only an image of a batch the caller may read is copied
(``DrawnImages``, bound to the caller by the route): an image URL alone lets one view the
image, and copying it into a template of another key would also let that key keep it
after its batch is deleted. Any other URL is stored as it came.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, UnidentifiedImageError

from slidebatch.core.look import MAX_REFERENCES, check_reference, decode_data_url
from slidebatch.core.project import Template
from slidebatch.errors import InputError, LimitExceeded, NotFound
from slidebatch.storage.templates import TemplateRepository

MAX_COVER_BYTES = 10 * 1024 * 1024
MAX_COVER_URL = 2048
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,(.*)$", re.IGNORECASE | re.DOTALL)
_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
ASSETS_PREFIX = "/assets/templates/"
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
_OWN_IMAGE = re.compile(r"^/api/images/([0-9a-f]{32})/([^/?#]+)$")
_DRAWN = "drawn-"


def _builtin(
    template_id: str, name: str, prompt: str, colour: str, fg: str, label: str
) -> Template:
    return Template(
        id=template_id,
        name=name,
        style_prompt=prompt,
        created_at=_EPOCH,
        updated_at=_EPOCH,
        cover_image=f"/api/placeholder/400/300/{colour}/{fg}?text={label}",
        settings={
            "vis_settings": {"primary_color": f"#{colour}"},
            "aspect_ratios": ["16:9", "4:3", "1:1"],
            "default_aspect_ratio": "16:9",
        },
    )


# The three styles the seed's frontend falls back to (same ids, so its choices resolve).
BUILTIN_TEMPLATES = (
    _builtin(
        "22133566-d215-4d60-a883-1e3dfb9c1508",
        "北大典雅学术版",
        "北大红搭配黑白配色，强调书卷质感。主色 #8B0012，背景 #FFFFFF，文字 #1F2937。",
        "8B0012",
        "FFFFFF",
        "北大典雅",
    ),
    _builtin(
        "7dd2d9a8-1c94-4ecc-854c-d741a706dc21",
        "深空科技蓝",
        "深空蓝背景搭配霓虹线条。背景 #0B1021，主色 #00FFFF，点缀 #7C3AED。",
        "0B1021",
        "00FFFF",
        "深空科技",
    ),
    _builtin(
        "fd870c83-150e-4376-8779-ee3101c66f13",
        "极简商务灰",
        "柔和灰度与细线结构。背景 #F5F5F5，主色 #555555，点缀 #9CA3AF。",
        "555555",
        "FFFFFF",
        "极简商务",
    ),
)


class DrawnImages(Protocol):
    """The stored slide images one caller may read."""

    async def read(self, batch_id: str, file_name: str) -> bytes | None:
        """The bytes of ``file_name`` of ``batch_id`` (None: no such image, or not the
        caller's to read)."""


class TemplateShelf:
    """Built-in and stored templates for one caller (``scope`` and ``owner`` as for batches);
    ``drawn``: the caller's images a cover URL may name (None: such URLs are kept as URLs)."""

    def __init__(
        self, repo: TemplateRepository, covers_dir: Path, drawn: DrawnImages | None = None
    ) -> None:
        self._repo = repo
        self._covers = covers_dir
        self._drawn_images = drawn

    async def all(self, *, scope: str | None) -> list[Template]:
        """The built-ins not saved over, then the caller's templates, oldest first."""
        stored = await self._repo.all(scope=scope)
        saved_ids = {t.id for t in stored}
        return [t for t in BUILTIN_TEMPLATES if t.id not in saved_ids] + stored

    async def get(self, template_id: str, *, scope: str | None) -> Template:
        """A stored template of the caller, else a built-in, else ``NotFound``."""
        try:
            return await self._repo.get(template_id, scope=scope)
        except NotFound:
            for builtin in BUILTIN_TEMPLATES:
                if builtin.id == template_id:
                    return builtin
            raise

    async def create(self, template: Template, *, owner: str | None) -> Template:
        """Store a new template under a fresh UUID."""
        new_id = str(uuid.uuid4())
        cover = await self._cover(new_id, template.cover_image)
        settings = self._settings(template.settings)
        return await self._repo.create(
            replace(template, id=new_id, owner=owner, cover_image=cover, settings=settings)
        )

    async def update(self, template: Template, *, scope: str | None, owner: str | None) -> Template:
        """Replace a template; editing a built-in stores the caller's copy of it."""
        cover = await self._cover(template.id, template.cover_image)
        settings = self._settings(template.settings)
        changed = replace(template, cover_image=cover, settings=settings)
        builtin = next((b for b in BUILTIN_TEMPLATES if b.id == template.id), None)
        if builtin is not None:
            try:
                return await self._repo.update(changed, scope=scope)
            except NotFound:
                copy = replace(changed, owner=owner)
                return await self._repo.create(copy, created_at=builtin.created_at)
        return await self._repo.update(changed, scope=scope)

    def keep_references(self, images: list[bytes]) -> list[str]:
        """Stores each usable reference image (the first 4); their ``/assets/templates/`` URLs.

        Uploads that are no reference image (GIF, over 5 MB) are left out: they were good
        enough for a style analysis, not to send with every slide.
        """
        urls: list[str] = []
        for data in images:
            if len(urls) == MAX_REFERENCES:
                break
            try:
                checked = check_reference(data)
            except InputError:
                continue
            urls.append(self._store_reference(checked.data, checked.mime_type))
        return urls

    def _settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``settings`` with its reference images stored as files and named by URL."""
        kept = dict(settings)
        urls = kept.pop("reference_images", None) or []
        if len(urls) > MAX_REFERENCES:
            raise LimitExceeded(
                f"{len(urls)} reference images; at most {MAX_REFERENCES} per template",
                limit_name="MAX_REFERENCES",
                limit=MAX_REFERENCES,
            )
        if urls:
            kept["reference_images"] = [self._reference(n, u) for n, u in enumerate(urls, 1)]
        return kept

    def _reference(self, n: int, url: str) -> str:
        what = f"reference image {n}"
        if url.startswith("data:"):
            checked = check_reference(decode_data_url(url, what=what), what=what)
            return self._store_reference(checked.data, checked.mime_type)
        name = url.removeprefix("/api").removeprefix(ASSETS_PREFIX)
        if url.removeprefix("/api").startswith(ASSETS_PREFIX) and self.asset(name) is not None:
            return ASSETS_PREFIX + name
        raise InputError(
            f"{what} must be a data:image/...;base64 URL or an {ASSETS_PREFIX}... URL that "
            "/template/analyze answered"
        )

    def _store_reference(self, data: bytes, mime_type: str) -> str:
        return self._keep(data, "ref-", f".{_EXTENSIONS[mime_type]}")

    def _keep(self, data: bytes, prefix: str, suffix: str) -> str:
        """``data`` in the templates' folder under a name made of its digest (written once);
        its ``/assets/templates/`` URL."""
        name = f"{prefix}{hashlib.sha256(data).hexdigest()[:24]}{suffix}"
        self._covers.mkdir(parents=True, exist_ok=True)
        path = self._covers / name
        if not path.exists():
            path.write_bytes(data)
        return ASSETS_PREFIX + name

    def asset(self, name: str) -> Path | None:
        """The file ``name`` in the templates' folder (``None``: missing or outside it)."""
        root = self._covers.resolve()
        if not name or "/" in name or "\\" in name or "\x00" in name:
            return None
        path = (root / name).resolve()
        return path if path.parent == root and path.is_file() else None

    def reference_images(self, template: Template) -> list[bytes]:
        """The bytes a batch made from ``template`` sends with every slide ([] for none)."""
        urls = list(template.settings.get("reference_images") or [])
        cover = template.cover_image or ""
        if not urls and cover.startswith(ASSETS_PREFIX + _DRAWN):
            return []
        if not urls and cover.startswith(ASSETS_PREFIX):
            urls = [cover]
        paths = [self.asset(url.removeprefix(ASSETS_PREFIX)) for url in urls]
        images = []
        for path in filter(None, paths):
            try:  # a cover may be a GIF: no reference then, and no reason to fail the batch
                images.append(check_reference(path.read_bytes()).data)
            except (InputError, OSError):
                continue
        return images

    async def _cover(self, template_id: str, cover: str | None) -> str | None:
        if not cover:
            return None
        found = _DATA_URL.match(cover)
        if found is None:
            if len(cover) > MAX_COVER_URL:
                raise InputError(f"cover_image: a URL has at most {MAX_COVER_URL} characters")
            return await self._drawn(cover) or cover
        data = _decode(found.group(1))
        extension = _image_extension(data)
        digest = hashlib.sha256(data).hexdigest()[:12]
        self._covers.mkdir(parents=True, exist_ok=True)
        name = f"{template_id}-{digest}.{extension}"
        (self._covers / name).write_bytes(data)
        return f"/assets/templates/{name}"

    async def _drawn(self, url: str) -> str | None:
        """A copy of the image an ``/api/images/`` URL names, as a kept cover (None: no such
        image, or not the caller's: the URL is then stored as it came, as any other)."""
        own = _OWN_IMAGE.match(url)
        if own is None or self._drawn_images is None:
            return None
        data = await self._drawn_images.read(own.group(1), own.group(2))
        if data is None:
            return None
        return self._keep(data, _DRAWN, Path(own.group(2)).suffix)


def template_settings(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The display settings of a template body, kept as the client sent them."""
    keys = (
        "vis_settings",
        "aspect_ratios",
        "default_aspect_ratio",
        "custom_dimensions",
        "reference_images",
    )
    return {key: fields[key] for key in keys if fields.get(key) is not None}


def _decode(payload: str) -> bytes:
    if len(payload) > MAX_COVER_BYTES * 4 // 3 + 4:
        raise LimitExceeded(
            f"cover_image is over {MAX_COVER_BYTES} bytes",
            limit_name="MAX_COVER_BYTES",
            limit=MAX_COVER_BYTES,
        )
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise InputError("cover_image: the data URL is not valid base64") from exc


def _image_extension(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            kind = image.format or ""
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError("cover_image: the data URL is not an image") from exc
    if kind not in _FORMATS:
        raise InputError(f"cover_image: {kind or 'this'} images are not accepted")
    return _FORMATS[kind]
