"""A slide, a batch request (the seed's field names), and what an attempt produced."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.look import Look

# The highest page number a slide may have: well inside JavaScript's exact integers (the
# seed's frontend), and far past any deck; every page_num a client sends is bounded by it.
MAX_PAGE_NUM = 100_000


class SlideType(StrEnum):
    COVER = "cover"
    CONTENT = "content"
    ENDING = "ending"


@dataclass(frozen=True, slots=True)
class Slide:
    """One slide of a deck, as the client described it.

    ``id`` is the client's string: shown and echoed back, never used to build a path.
    """

    id: str
    page_num: int
    type: SlideType
    title: str
    content_text: str = ""
    visual_desc: str = ""

    def with_visual_desc(self, visual_desc: str) -> Slide:
        return replace(self, visual_desc=visual_desc)


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """A deck to generate: the seed's request body, validated.

    ``max_workers`` is ``None`` for "auto" (the scheduler decides); an integer is the
    client's cap before clamping to ``BATCH_MAX_WORKERS``.
    """

    slides: tuple[Slide, ...]
    style_prompt: str
    aspect_ratio: AspectRatio = field(default_factory=lambda: AspectRatio(16, 9))
    max_workers: int | None = None
    title: str = ""
    look: Look = field(default_factory=Look)  # reference images, anchor mode (core/look.py)
    max_cost: float | None = None  # USD the batch may cost at most (kept with the batch)

    @property
    def deck_title(self) -> str:
        """The deck's title: given, else the cover's title, else the first slide's."""
        if self.title:
            return self.title
        for slide in self.slides:
            if slide.type is SlideType.COVER and slide.title:
                return slide.title
        return self.slides[0].title if self.slides else ""


def effective_workers(requested: int | None, default: int | None, maximum: int) -> int | None:
    """The per-batch cap: the request's, else the server default; clamped to ``maximum``.

    ``None`` means auto: the scheduler alone decides (still never above ``maximum``).
    """
    chosen = requested if requested is not None else default
    if chosen is None:
        return None
    return max(1, min(chosen, maximum))


def anchor_key(slides: Iterable[tuple[int, Slide]]) -> int | None:
    """Of ``(key, slide)`` pairs, the key of the slide whose image anchors the rest in anchor
    mode: the first cover, else the first slide (by page, then key); None for no slides."""
    ordered = sorted(slides, key=lambda pair: (pair[1].page_num, pair[0]))
    covers = [key for key, slide in ordered if slide.type is SlideType.COVER]
    chosen = covers or [key for key, _ in ordered]
    return chosen[0] if chosen else None
