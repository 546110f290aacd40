"""Right-to-left slides: the whole layout mirrored, so Arabic and Hebrew read from the right.

A slide whose title (else its text) starts right to left gets the mirror image of the
left-to-right layout: the title and its rule at the right edge, bullets and numbers on the
right of their lines, the illustration on the left, the page number at the bottom left,
timelines and charts running right to left. Text is not flipped: each line keeps its
shape and moves to where its mirror image would be (a left-aligned line becomes a
right-aligned one); the letters inside a line are ordered by ``glyphs.ChainFont``.
"""

from __future__ import annotations

from dataclasses import replace

from slidebatch.core.slide import Slide
from slidebatch.render.glyphs import strong_direction
from slidebatch.render.scene import PaintedText, Shape, ShapeKind, SlideLayout
from slidebatch.render.textfit import Box, PlacedLine, TextBlock


def reads_right_to_left(slide: Slide) -> bool:
    """Whether ``slide``'s first strong character (title, then content) is Arabic or Hebrew."""
    return strong_direction(f"{slide.title}\n{slide.content_text}") is True


def mirrored(layout: SlideLayout) -> SlideLayout:
    """``layout`` reflected left to right (the background's gradient too)."""
    width = layout.width
    return replace(
        layout,
        background=layout.background_end,
        background_end=layout.background,
        shapes=tuple(_shape(shape, width) for shape in layout.shapes),
        title=_text(layout.title, width),
        body=_text(layout.body, width),
        extras=tuple(_text(text, width) for text in layout.extras),
        page=None if layout.page is None else _text(layout.page, width),
        placeholder=None if layout.placeholder is None else _text(layout.placeholder, width),
    )


def _box(box: Box, width: int) -> Box:
    return Box(width - box.x1, box.y0, width - box.x0, box.y1)


def _shape(shape: Shape, width: int) -> Shape:
    mirrored_shape = replace(
        shape,
        box=_box(shape.box, width),
        points=tuple((width - x, y) for x, y in shape.points),
    )
    if shape.kind is ShapeKind.WEDGE:
        # Pillow's angles run clockwise from 3 o'clock: the mirror of angle a is 180 - a.
        return replace(mirrored_shape, start=180.0 - shape.end, end=180.0 - shape.start)
    return mirrored_shape


def _text(text: PaintedText, width: int) -> PaintedText:
    block = text.block
    lines = tuple(_line(line, width) for line in block.lines)
    markers = tuple(_box(marker, width) for marker in block.markers)
    moved: TextBlock = replace(block, box=_box(block.box, width), lines=lines, markers=markers)
    return replace(text, block=moved)


def _line(line: PlacedLine, width: int) -> PlacedLine:
    ink = _box(line.ink, width)
    return replace(line, x=line.x + ink.x0 - line.ink.x0, ink=ink)
