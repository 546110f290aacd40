"""Building an ``ExportDeck`` from what the system has: stored records, a ``generate`` output
directory, or the seed's ``POST /api/export/pptx`` project body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from slidebatch.core.aspect import UPSTREAM_1K_SIZES, AspectRatio
from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.states import SlideState
from slidebatch.errors import InputError
from slidebatch.exporters.base import ExportDeck, ExportSlide
from slidebatch.exporters.manifest import read_manifest

DEFAULT_ASPECT = AspectRatio(16, 9)
# An image within this relative distance of a standard ratio is taken to be of that ratio.
RATIO_TOLERANCE = 0.03


def deck_from_records(
    batch: BatchRecord, slides: Sequence[SlideRecord], batch_dir: Path
) -> ExportDeck:
    """The deck of a stored batch; image files are resolved inside ``batch_dir`` only."""
    root = batch_dir.resolve()
    ordered = sorted(slides, key=lambda r: (r.slide.page_num, r.key))
    return ExportDeck(
        title=batch.title or _first_title(r.slide.title for r in ordered),
        aspect_ratio=batch.aspect_ratio,
        created_at=batch.created_at,
        slides=tuple(_from_record(r, root) for r in ordered),
        batch_id=batch.id,
        style_prompt=batch.style_prompt,
        total_time=batch.total_time,
    )


def _from_record(record: SlideRecord, root: Path) -> ExportSlide:
    slide = record.slide
    usable = record.state is SlideState.DONE or record.placeholder
    return ExportSlide(
        page_num=slide.page_num,
        title=slide.title,
        content_text=slide.content_text,
        visual_desc=slide.visual_desc,
        slide_type=str(slide.type),
        image_path=_inside(root, record.image_file) if usable else None,
        status=str(record.state),
        error_message=record.error_message,
        placeholder=record.placeholder,
        client_id=slide.id,
        final_prompt=record.final_prompt,
        generation_time=record.generation_time,
        attempts=record.attempts,
        cost=record.cost,
        spent=record.spent,
        cost_estimated=record.cost_estimated,
        warnings=record.warnings,
    )


def _inside(root: Path, relative: str | None) -> Path | None:
    """``root/relative`` when it stays inside ``root`` (after symlinks), else None."""
    if not relative:
        return None
    candidate = Path(relative)
    if candidate.is_absolute():
        return None
    resolved = (root / candidate).resolve()
    return resolved if resolved.is_relative_to(root) else None


def deck_from_directory(path: Path) -> ExportDeck:
    """The deck in a directory written by ``slidebatch generate`` (its ``manifest.json``)."""
    return read_manifest(path)


def deck_from_project(
    project: Mapping[str, Any],
    resolve_image: Callable[[str], Path | None],
    *,
    aspect_ratio: AspectRatio | None = None,
) -> ExportDeck:
    """The deck of the seed's ``{project: {title, slides: [...]}}`` export body.

    Slides name their images by URL; ``resolve_image`` maps a URL to a local file (None
    when it is not one of ours). A slide without a resolvable image becomes a failed slide.
    The ratio is ``aspect_ratio``, else the project's ``aspect_ratio``, else read from the
    first image, else 16:9.
    """
    if not isinstance(project, Mapping):
        raise InputError("project must be an object")
    raw_slides = project.get("slides")
    if not isinstance(raw_slides, list):
        raise InputError("project.slides must be a list")
    slides = [_project_slide(item, i, resolve_image) for i, item in enumerate(raw_slides)]
    slides.sort(key=lambda s: s.page_num)
    title = _text(project, "title", "project")
    return ExportDeck(
        title=title or _first_title(s.title for s in slides),
        aspect_ratio=aspect_ratio or _project_aspect(project, slides),
        created_at=datetime.now(UTC),
        slides=tuple(slides),
        style_prompt=_text(project, "style_prompt", "project"),
    )


def _project_slide(
    item: object, index: int, resolve_image: Callable[[str], Path | None]
) -> ExportSlide:
    where = f"project.slides[{index}]"
    if not isinstance(item, Mapping):
        raise InputError(f"{where} must be an object")
    page_num = item.get("page_num", index + 1)
    if isinstance(page_num, bool) or not isinstance(page_num, int):
        raise InputError(f"{where}.page_num must be an integer")
    url = _text(item, "image_url", where)
    image_path = resolve_image(url) if url else None
    status = _text(item, "status", where) or "done"
    error = _text(item, "error_message", where) or None
    if image_path is None and status == "done":
        status = "error"
        error = "image not available" if url else "no image_url"
    return ExportSlide(
        page_num=page_num,
        title=_text(item, "title", where),
        content_text=_text(item, "content_text", where),
        visual_desc=_text(item, "visual_desc", where),
        slide_type=_text(item, "type", where) or "content",
        image_path=image_path,
        status=status,
        error_message=error,
        client_id=_text(item, "id", where) or _text(item, "slide_id", where),
        final_prompt=_text(item, "final_prompt", where),
    )


def _project_aspect(project: Mapping[str, Any], slides: Sequence[ExportSlide]) -> AspectRatio:
    given = project.get("aspect_ratio")
    if isinstance(given, str) and given:
        return AspectRatio.parse(given)
    for slide in slides:
        if slide.image_path is not None:
            size = _image_size(slide.image_path)
            if size is not None:
                return nearest_aspect(*size)
    return DEFAULT_ASPECT


def nearest_aspect(width: int, height: int) -> AspectRatio:
    """The standard ratio an image of ``width x height`` was made for (1344x768 -> 16:9).

    Upstream sizes round to multiples of 16, so they are close to, not exactly, the ratio.
    """
    best = min(UPSTREAM_1K_SIZES, key=lambda wh: abs((width / height) / (wh[0] / wh[1]) - 1))
    candidate = AspectRatio(*best)
    if candidate.matches(width, height, tolerance=RATIO_TOLERANCE):
        return candidate
    try:
        return AspectRatio.parse(f"{width}:{height}")
    except InputError:
        return candidate


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InputError(f"{where}.{key} must be a string")


def _first_title(titles: Any) -> str:
    return next((t for t in titles if t), "")
