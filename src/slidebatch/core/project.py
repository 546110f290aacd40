"""The seed system's saved work: projects (a deck with its images) and style templates.

Plain values; the API validates their fields, storage persists them, nobody else sees rows.
A project's ``slides`` are the seed's ``SlideData`` objects, kept as the client sent them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_IMAGE_URL = re.compile(r"/api/images/([0-9a-f]{32})/")


@dataclass(frozen=True, slots=True)
class Project:
    """A saved deck: title, the style it was drawn in, its slides and a cover thumbnail."""

    id: str
    title: str
    template_style_prompt: str
    slides: tuple[Mapping[str, Any], ...]
    created_at: datetime
    updated_at: datetime
    thumbnail_url: str | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """One line of the project list."""

    id: str
    title: str
    updated_at: datetime
    thumbnail_url: str | None


@dataclass(frozen=True, slots=True)
class Template:
    """A named style prompt with its cover image and the seed's display settings."""

    id: str
    name: str
    style_prompt: str
    created_at: datetime
    updated_at: datetime
    cover_image: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    owner: str | None = None


def batch_ids_in(slides: Iterable[Mapping[str, Any]]) -> set[str]:
    """The batches whose images a project's slides show (``/api/images/<batch>/...`` URLs)."""
    found: set[str] = set()
    for slide in slides:
        url = slide.get("image_url")
        if isinstance(url, str) and (match := _IMAGE_URL.search(url)):
            found.add(match.group(1))
    return found


def cover_thumbnail(slides: Iterable[Mapping[str, Any]], given: str | None) -> str | None:
    """The list thumbnail: the cover slide's image, else the first image, else ``given``."""
    ordered = sorted(slides, key=lambda s: s.get("page_num") or 0)
    with_images = [s for s in ordered if isinstance(s.get("image_url"), str) and s["image_url"]]
    covers = [s for s in with_images if s.get("type") == "cover"]
    chosen = covers or with_images
    return str(chosen[0]["image_url"]) if chosen else given
