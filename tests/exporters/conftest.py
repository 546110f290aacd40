"""Decks and images for the exporter tests: small Pillow-made PNGs, so tests stay fast."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from slidebatch.core.aspect import AspectRatio
from slidebatch.exporters.base import ExportDeck, ExportSlide

CREATED = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)

MakeImage = Callable[..., Path]
MakeDeck = Callable[..., ExportDeck]


def draw_image(
    path: Path, size: tuple[int, int] = (160, 90), *, mode: str = "RGB", fmt: str = "PNG"
) -> Path:
    """A small image with shapes on it (not one flat colour) at ``path``."""
    rng = random.Random(str(path))
    colour = tuple(rng.randrange(256) for _ in range(3))
    fill = (*colour, 120) if mode == "RGBA" else colour
    image = Image.new(mode, size, fill if mode in ("RGB", "RGBA") else 128)
    draw = ImageDraw.Draw(image)
    for _ in range(5):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        draw.ellipse((x, y, x + size[0] // 4, y + size[1] // 4), fill="white")
    image.save(path, format=fmt)
    return path


@pytest.fixture
def make_image(tmp_path: Path) -> MakeImage:
    """Draws an image into tmp_path and returns its path."""

    def make(name: str, size: tuple[int, int] = (160, 90), **kwargs: str) -> Path:
        return draw_image(tmp_path / name, size, **kwargs)

    return make


def slide(page: int, image: Path | None, **overrides: object) -> ExportSlide:
    """An export slide with readable defaults."""
    values: dict[str, object] = {
        "page_num": page,
        "title": f"Title {page}",
        "content_text": f"Point one of {page}\nPoint two of {page}",
        "visual_desc": f"picture {page}",
        "slide_type": "content",
        "image_path": image,
        "status": "done" if image is not None else "error",
        "error_message": None if image is not None else f"upstream refused slide {page}",
        "client_id": f"s{page}",
    }
    values.update(overrides)
    return ExportSlide(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_deck(make_image: MakeImage) -> MakeDeck:
    """A deck of ``count`` slides; pages in ``failed`` have no image."""

    def make(
        count: int = 3,
        *,
        failed: tuple[int, ...] = (),
        aspect: str = "16:9",
        size: tuple[int, int] = (160, 90),
        title: str = "Quarterly review",
    ) -> ExportDeck:
        slides = tuple(
            slide(page, None if page in failed else make_image(f"{page:02d}.png", size))
            for page in range(1, count + 1)
        )
        return ExportDeck(
            title=title,
            aspect_ratio=AspectRatio.parse(aspect),
            created_at=CREATED,
            slides=slides,
            batch_id="batch-1",
            style_prompt="deep blue, gold accents",
        )

    return make


@pytest.fixture
def make_slide() -> Callable[..., ExportSlide]:
    """The ``slide`` builder, for tests that assemble their own deck."""
    return slide
