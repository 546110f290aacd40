"""What the painter draws: shapes, icons and fitted text on a background, back to front.

Separate from drawing so tests can check the geometry (every box inside the canvas, the title
present) without reading pixels. Every primitive has a ``box`` inside which it stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from slidebatch.core.slide import SlideType
from slidebatch.render.palette import RGB, Palette
from slidebatch.render.textfit import Box, TextBlock


class ShapeKind(StrEnum):
    RECT = "rect"
    ROUNDED = "rounded"  # a rectangle with ``radius`` corners
    ELLIPSE = "ellipse"  # filled, or a ring when ``width`` > 0
    WEDGE = "wedge"  # a pie slice of the ellipse in ``box`` from ``start`` to ``end`` degrees
    LINE = "line"  # a polyline through ``points`` of ``width`` pixels
    ICON = "icon"  # ``glyph`` of the icon font, centred in ``box``


@dataclass(frozen=True, slots=True)
class Shape:
    """One filled or stroked primitive; ``box`` bounds everything it draws."""

    box: Box
    colour: RGB
    kind: ShapeKind = ShapeKind.RECT
    radius: int = 0
    width: int = 0  # stroke width; 0 fills
    start: float = 0.0
    end: float = 360.0
    points: tuple[tuple[int, int], ...] = ()
    glyph: str = ""
    colour_end: RGB | None = None  # bottom colour of a vertical gradient fill


@dataclass(frozen=True, slots=True)
class PaintedText:
    """A fitted text block and the colours to draw it in."""

    block: TextBlock
    colour: RGB
    marker_colour: RGB


@dataclass(frozen=True, slots=True)
class SlideLayout:
    """Everything the painter needs; drawn back to front: background, shapes, texts.

    ``kind`` names the layout chosen for the content (``bullets``, ``stats``, ``timeline``...);
    ``warnings`` say what the reader will not see as written (cut text, missing glyphs).
    """

    width: int
    height: int
    slide_type: SlideType
    palette: Palette
    background: RGB
    background_end: RGB  # right edge of a horizontal gradient; equal to background when flat
    shapes: tuple[Shape, ...]
    title: PaintedText
    body: PaintedText
    page: PaintedText | None
    placeholder: PaintedText | None
    extras: tuple[PaintedText, ...] = ()
    kind: str = "bullets"
    warnings: tuple[str, ...] = ()

    @property
    def canvas(self) -> Box:
        return Box(0, 0, self.width, self.height)

    @property
    def texts(self) -> tuple[PaintedText, ...]:
        tail = tuple(t for t in (self.page, self.placeholder) if t is not None)
        return (self.title, self.body, *self.extras, *tail)
