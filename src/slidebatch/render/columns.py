"""Arrangements in columns: stat cards, a timeline, cards side by side, a comparison."""

from __future__ import annotations

from slidebatch.core.slide import Slide
from slidebatch.render.content import Item, Reading
from slidebatch.render.frame import Frame
from slidebatch.render.icons import glyph, icons_for
from slidebatch.render.palette import Palette
from slidebatch.render.parts import (
    Body,
    card,
    fit_in,
    icon_disc,
    inset,
    item_icons,
    on_colour,
    square,
    tint,
)
from slidebatch.render.scene import PaintedText, Shape, ShapeKind
from slidebatch.render.textfit import Align, Box, VAlign


def stats(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """Stat cards: an icon, the figure large, what it measures, and where it came from."""
    figures = reading.figures
    shapes: list[Shape] = []
    texts: list[PaintedText] = []
    names = item_icons(slide, [Item(f.label, "", None) for f in figures])
    for figure, box, name in zip(figures, frame.columns(area, len(figures)), names, strict=False):
        shapes.append(card(box, palette, frame))
        inner = inset(box, frame.px(0.03))
        disc = frame.px(0.11)
        shapes += icon_disc(
            Box(inner.x0, inner.y0, inner.x0 + disc, inner.y0 + disc), name, palette
        )
        top = inner.y0 + disc + frame.px(0.03)
        big = fit_in(
            figure.shown,
            Box(inner.x0, top, inner.x1, top + frame.px(0.15)),
            frame.fonts.bold,
            frame,
            0.12,
            0.03,
        )
        texts.append(PaintedText(big, palette.title_text, palette.accent))
        below = top + frame.px(0.16)  # the same line in every card, whatever the figure
        label_box = Box(
            inner.x0, below, inner.x1, inner.y1 - (frame.px(0.07) if figure.note else 0)
        )
        label = fit_in(figure.label, label_box, frame.fonts.regular, frame, 0.045, 0.014)
        texts.append(PaintedText(label, palette.body_text, palette.accent))
        if figure.note:
            was = fit_in(
                figure.note,
                Box(inner.x0, inner.y1 - frame.px(0.055), inner.x1, inner.y1),
                frame.fonts.regular,
                frame,
                0.028,
                0.012,
            )
            texts.append(PaintedText(was, palette.muted_text, palette.accent))
            shapes.append(
                Shape(
                    Box(
                        inner.x0,
                        inner.y1 - frame.px(0.075),
                        inner.x0 + frame.px(0.06),
                        inner.y1 - frame.px(0.07),
                    ),
                    palette.accent,
                )
            )
    return Body(tuple(shapes), None, tuple(texts), "stats")


def timeline(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """A line with one node per step: the step's time above it, what happens in a card below."""
    items = reading.items
    if not frame.landscape:
        return cards(slide, reading, palette, frame, area)
    head_h, node = frame.px(0.09), frame.px(0.07)
    line_y = area.y0 + head_h + node // 2 + frame.px(0.01)
    thin = frame.px(0.004)
    shapes = [Shape(Box(area.x0, line_y - thin, area.x1, line_y + thin), tint(palette, 0.55))]
    # The line ends in what the description marks the way with (a flag by default).
    end = (icons_for(slide.visual_desc, limit=8) or ("flag-checkered",))[-1]
    tip = frame.px(0.05)
    tip_box = Box(area.x1 - tip, line_y - tip // 2, area.x1, line_y + tip // 2)
    shapes.append(Shape(tip_box, palette.primary, ShapeKind.ICON, glyph=glyph(end) or ""))
    texts: list[PaintedText] = []
    columns = frame.columns(area, len(items), gap_fraction=0.02)
    names = item_icons(slide, items)
    for index, (item, column, name) in enumerate(zip(items, columns, names, strict=False)):
        cx = (column.x0 + column.x1) // 2
        head_box = Box(column.x0, area.y0, column.x1, area.y0 + head_h)
        head = fit_in(
            item.head or f"{index + 1}",
            head_box,
            frame.fonts.bold,
            frame,
            0.045,
            0.016,
            align=Align.CENTER,
        )
        texts.append(PaintedText(head, palette.title_text, palette.accent))
        shapes += _node(square(cx, line_y, node), name, palette)
        panel = Box(column.x0, line_y + node // 2 + frame.px(0.035), column.x1, area.y1)
        stem = Box(cx - frame.px(0.002), line_y + node // 2, cx + frame.px(0.002), panel.y0)
        shapes += [card(panel, palette, frame), Shape(stem, tint(palette, 0.55))]
        text = item.body if item.head else item.text
        body = fit_in(text, inset(panel, frame.px(0.025)), frame.fonts.regular, frame, 0.046, 0.013)
        texts.append(PaintedText(body, palette.body_text, palette.accent))
    return Body(tuple(shapes), None, tuple(texts), "timeline")


def _node(box: Box, name: str, palette: Palette) -> list[Shape]:
    """A timeline node: an accent disc with the step's icon cut out of it."""
    shapes = [Shape(box, palette.accent, ShapeKind.ELLIPSE)]
    icon = glyph(name)
    if icon:
        shapes.append(
            Shape(inset(box, box.width // 4), palette.background, ShapeKind.ICON, glyph=icon)
        )
    return shapes


def cards(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """Parallel items side by side, each with an icon, its heading and its text."""
    items = reading.items
    shapes: list[Shape] = []
    texts: list[PaintedText] = []
    names = item_icons(slide, items)
    for index, (item, box, name) in enumerate(
        zip(items, frame.columns(area, len(items)), names, strict=False)
    ):
        shapes.append(card(box, palette, frame))
        shapes.append(
            Shape(
                Box(box.x0, box.y0, box.x1, box.y0 + frame.px(0.01)),
                palette.accent if index % 2 else palette.primary,
            )
        )
        inner = inset(box, frame.px(0.03))
        disc = min(frame.px(0.16), inner.width // 2)
        x0 = (inner.x0 + inner.x1 - disc) // 2 if frame.landscape else inner.x0
        shapes += icon_disc(Box(x0, inner.y0, x0 + disc, inner.y0 + disc), name, palette)
        top = inner.y0 + disc + frame.px(0.03)
        align = Align.CENTER if frame.landscape else Align.LEFT
        if item.head:
            head = fit_in(
                item.head,
                Box(inner.x0, top, inner.x1, top + frame.px(0.13)),
                frame.fonts.bold,
                frame,
                0.058,
                0.016,
                align=align,
            )
            texts.append(PaintedText(head, palette.title_text, palette.accent))
            top = (head.ink.y1 if head.ink else top) + frame.px(0.025)
        body = fit_in(
            item.body,
            Box(inner.x0, top, inner.x1, inner.y1),
            frame.fonts.regular,
            frame,
            0.05,
            0.013,
            align=align,
        )
        texts.append(PaintedText(body, palette.body_text, palette.accent))
    return Body(tuple(shapes), None, tuple(texts), "cards")


def comparison(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """Two sides, each under a coloured heading band, with a "VS" badge between them."""
    left, right = frame.columns(area, 2, gap_fraction=0.08)
    shapes: list[Shape] = []
    texts: list[PaintedText] = []
    band_h = frame.px(0.1)
    for item, box, colour in zip(
        reading.items, (left, right), (palette.primary, palette.accent), strict=False
    ):
        shapes.append(card(box, palette, frame))
        band = Box(box.x0, box.y0, box.x1, box.y0 + band_h)
        shapes.append(Shape(band, colour, ShapeKind.ROUNDED, radius=frame.px(0.015)))
        head = fit_in(
            item.head or item.body[:24],
            inset(band, frame.px(0.015)),
            frame.fonts.bold,
            frame,
            0.05,
            0.014,
            align=Align.CENTER,
            valign=VAlign.MIDDLE,
        )
        texts.append(PaintedText(head, on_colour(colour, palette), colour))
        body = fit_in(
            item.body if item.head else item.text,
            inset(Box(box.x0, band.y1, box.x1, box.y1), frame.px(0.04)),
            frame.fonts.regular,
            frame,
            0.058,
            0.013,
            align=Align.CENTER,
            valign=VAlign.MIDDLE,
        )
        texts.append(PaintedText(body, palette.body_text, palette.accent))
    badge = frame.px(0.1)
    cx, cy = (left.x1 + right.x0) // 2, (area.y0 + area.y1) // 2
    disc = Box(cx - badge // 2, cy - badge // 2, cx + badge // 2, cy + badge // 2)
    shapes.append(Shape(disc, palette.primary, ShapeKind.ELLIPSE))
    vs = fit_in(
        "VS",
        inset(disc, badge // 5),
        frame.fonts.bold,
        frame,
        0.04,
        0.01,
        align=Align.CENTER,
        valign=VAlign.MIDDLE,
    )
    texts.append(PaintedText(vs, on_colour(palette.primary, palette), palette.accent))
    return Body(tuple(shapes), None, tuple(texts), "comparison")
