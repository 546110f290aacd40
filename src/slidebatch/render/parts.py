"""Pieces the body arrangements share: what they return, cards, icon discs, tints, fitting."""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.core.slide import Slide
from slidebatch.render.content import Item
from slidebatch.render.fonts import FontFace
from slidebatch.render.frame import Frame
from slidebatch.render.icons import FALLBACK_ICONS, glyph, icons_for
from slidebatch.render.palette import RGB, Palette, mix, readable
from slidebatch.render.scene import PaintedText, Shape, ShapeKind
from slidebatch.render.textfit import (
    Align,
    Box,
    FitSpec,
    Paragraph,
    TextBlock,
    VAlign,
    fit_text,
    paragraphs,
)


@dataclass(frozen=True, slots=True)
class Body:
    """What an arrangement adds to the slide; ``title`` replaces the header's when set."""

    shapes: tuple[Shape, ...]
    body: PaintedText | None
    texts: tuple[PaintedText, ...]
    kind: str
    title: PaintedText | None = None


def empty(box: Box, frame: Frame) -> TextBlock:
    """A text block with nothing in it (the body of arrangements that use their own texts)."""
    return TextBlock(box, (), (), frame.min_size(0.016), frame.fonts.regular)


def fit_in(
    text: str,
    box: Box,
    face: FontFace,
    frame: Frame,
    largest: float,
    smallest: float,
    align: Align = Align.LEFT,
    *,
    valign: VAlign = VAlign.TOP,
) -> TextBlock:
    items: tuple[Paragraph, ...] = paragraphs(text, bullets=False)
    spec = FitSpec(
        frame.px(largest),
        frame.min_size(smallest),
        line_spacing=1.3,
        paragraph_gap=0.2,
        align=align,
        valign=valign,
    )
    return fit_text(items, box, face, spec)


def item_icons(slide: Slide, items: list[Item] | tuple[Item, ...]) -> list[str]:
    """One icon per item: the description's icons in order when it names enough,
    else each item's own keywords, else the description's, else a varied default."""
    wanted = len(items)
    described = icons_for(slide.visual_desc, limit=8)
    if len(described) >= wanted:
        # "Three pillars, each topped by an icon: a bulb, a globe, a gear": the list comes last.
        return list(described[-wanted:])
    names: list[str] = []
    for index, item in enumerate(items):
        own = [n for n in icons_for(item.text, limit=3) if n not in names]
        spare = [n for n in described if n not in names]
        default = [n for n in FALLBACK_ICONS if n not in names] or list(FALLBACK_ICONS)
        names.append((own or spare or default)[0] if index < 99 else default[0])
    return names


def icon_disc(box: Box, name: str, palette: Palette) -> list[Shape]:
    shapes = [Shape(box, tint(palette, 0.78, palette.accent), ShapeKind.ELLIPSE)]
    icon = glyph(name)
    if icon:
        shapes.append(
            Shape(inset(box, box.width // 4), palette.primary, ShapeKind.ICON, glyph=icon)
        )
    return shapes


def card(box: Box, palette: Palette, frame: Frame) -> Shape:
    return Shape(
        box,
        tint(palette, 0.93),
        ShapeKind.ROUNDED,
        radius=frame.px(0.02),
        colour_end=tint(palette, 0.84),
    )


def tint(palette: Palette, keep: float, colour: RGB | None = None) -> RGB:
    """``colour`` (default primary) mixed into the background, ``keep`` of the background kept."""
    return mix(colour or palette.primary, palette.background, keep)


def on_colour(colour: RGB, palette: Palette) -> RGB:
    """A text colour readable on ``colour``."""
    return readable(colour, palette.background)


def inset(box: Box, pad: int) -> Box:
    pad = max(0, min(pad, box.width // 2 - 1, box.height // 2 - 1))
    return Box(box.x0 + pad, box.y0 + pad, box.x1 - pad, box.y1 - pad)


def square(cx: int, cy: int, side: int) -> Box:
    """A ``side`` x ``side`` box centred on (cx, cy)."""
    return Box(cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side)
