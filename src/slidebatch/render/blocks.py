"""The body of a content slide when it is not in columns: a list of points, text across the
width, a chart with its items, a quote, a section divider; and the icon of a feature slide.

Column arrangements (stat cards, timeline, cards, comparison) are in ``columns.py``.
"""

from __future__ import annotations

from slidebatch.core.slide import Slide
from slidebatch.render.charts import chart as draw_chart
from slidebatch.render.content import ChartKind, Reading, series
from slidebatch.render.frame import Frame
from slidebatch.render.icons import glyph, icons_for
from slidebatch.render.palette import RGB, Palette, mix
from slidebatch.render.parts import (
    Body,
    card,
    fit_in,
    inset,
    on_colour,
    square,
    tint,
)
from slidebatch.render.scene import PaintedText, Shape, ShapeKind
from slidebatch.render.textfit import Align, Box, FitSpec, VAlign, fit_text, paragraphs


def points(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """The slide's text as a list, as large as fits, centred in the height it has."""
    block = fit_text(
        reading.paragraphs,
        area,
        frame.fonts.regular,
        FitSpec(frame.px(0.05), frame.min_size(0.016), line_spacing=1.4, valign=VAlign.MIDDLE),
    )
    return Body((), PaintedText(block, palette.body_text, palette.accent), (), "bullets")


def text_only(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """Text-heavy slides use the full width: two columns when a long list would fit better."""
    items = reading.paragraphs
    if len(items) >= 8 and frame.landscape and all(len(p.text) < 90 for p in items):
        half = (len(items) + 1) // 2
        left, right = frame.columns(area, 2, gap_fraction=0.05)
        spec = FitSpec(frame.px(0.042), frame.min_size(0.016), line_spacing=1.35)
        first = fit_text(items[:half], left, frame.fonts.regular, spec)
        second = fit_text(items[half:], right, frame.fonts.regular, spec)
        size = min(first.size, second.size)
        uniform = FitSpec(size, min(size, spec.min_size), line_spacing=1.35)
        first = fit_text(items[:half], left, frame.fonts.regular, uniform)
        second = fit_text(items[half:], right, frame.fonts.regular, uniform)
        divider_x = (left.x1 + right.x0) // 2
        rule = Shape(
            Box(divider_x, area.y0, divider_x + frame.px(0.003), area.y1), tint(palette, 0.8)
        )
        return Body(
            (rule,),
            PaintedText(first, palette.body_text, palette.accent),
            (PaintedText(second, palette.body_text, palette.accent),),
            "dense",
        )
    block = fit_text(
        items,
        area,
        frame.fonts.regular,
        FitSpec(frame.px(0.045), frame.min_size(0.016), line_spacing=1.35),
    )
    return Body((), PaintedText(block, palette.body_text, palette.accent), (), "dense")


def chart(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """The items' figures as a chart on a panel, the items themselves beside it."""
    data = reading.plot or series(reading.items)
    chart_box, side = frame.split(area, text_share=0.64)
    panel = card(chart_box, palette, frame)
    inner = inset(chart_box, frame.px(0.04))
    kind = reading.chart or ChartKind.BARS
    colours = (palette.primary, palette.accent, palette.title_text)
    shapes, texts = draw_chart(
        kind,
        [(shown, value) for _name, shown, value in data],
        inner,
        frame,
        colours,
        tint(palette, 0.84),
        names=[name for name, _shown, _value in data],
    )
    listed = points(slide, reading, palette, frame, side)
    return Body((panel, *shapes), listed.body, tuple(texts), "chart")


def quote(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """A quotation set large on a tinted panel, its attribution below."""
    text = slide.content_text.strip()
    said, _, source = text.partition("\n")
    for mark in ("— ", "—", "-- "):
        if mark in said and not source:
            said, _, source = said.rpartition(mark)
    panel = card(area, palette, frame)
    mark_box = Box(
        area.x0 + frame.px(0.03),
        area.y0 + frame.px(0.02),
        area.x0 + frame.px(0.17),
        area.y0 + frame.px(0.16),
    )
    shapes = [panel]
    icon = glyph("quote-left")
    if icon:
        shapes.append(Shape(mark_box, palette.accent, ShapeKind.ICON, glyph=icon))
    right = area.x1 - frame.px(0.06)
    named = icons_for(slide.visual_desc, limit=1)
    if named and frame.landscape and glyph(named[0]):
        # What the description shows, large and soft beside the words.
        size = min(frame.px(0.3), area.height - frame.px(0.08), area.width // 4)
        art = Box(
            right - size, (area.y0 + area.y1 - size) // 2, right, (area.y0 + area.y1 + size) // 2
        )
        shapes.append(Shape(art, tint(palette, 0.7), ShapeKind.ICON, glyph=glyph(named[0]) or ""))
        right = art.x0 - frame.px(0.04)
    inner = Box(
        mark_box.x1 + frame.px(0.03),
        area.y0 + frame.px(0.05),
        max(mark_box.x1 + frame.px(0.03), right),
        area.y1 - frame.px(0.12),
    )
    words = fit_text(
        paragraphs(said, bullets=False),
        inner,
        frame.fonts.bold,
        FitSpec(frame.px(0.07), frame.min_size(0.018), line_spacing=1.3, valign=VAlign.MIDDLE),
    )
    texts = [PaintedText(words, palette.title_text, palette.accent)]
    if source.strip():
        by = fit_in(
            source.strip(),
            Box(inner.x0, inner.y1 + frame.px(0.02), inner.x1, area.y1 - frame.px(0.03)),
            frame.fonts.regular,
            frame,
            0.036,
            0.013,
            align=Align.RIGHT,
        )
        texts.append(PaintedText(by, palette.muted_text, palette.accent))
    return Body(tuple(shapes), None, tuple(texts), "quote")


def divider(slide: Slide, palette: Palette, frame: Frame) -> Body:
    """A section divider: a colour block with the section's icon, the title large beside it."""
    w, h, m = frame.width, frame.height, frame.margin
    split = round(w * 0.38) if frame.landscape else round(h * 0.4)
    block = Box(0, 0, split, h) if frame.landscape else Box(0, 0, w, split)
    shapes = [Shape(block, palette.primary, colour_end=mix(palette.primary, (0, 0, 0), 0.3))]
    size = min(block.width, block.height) // 2
    cx, cy = (block.x0 + block.x1) // 2, (block.y0 + block.y1) // 2
    ring = square(cx, cy, size + frame.px(0.08))
    shapes.append(Shape(ring, palette.accent, ShapeKind.ELLIPSE, width=frame.px(0.008)))
    icon_colour = on_colour(palette.primary, palette)
    shapes += feature_icon(slide, palette, square(cx, cy, size * 2 // 3), colour=icon_colour)
    if frame.landscape:
        text_box = Box(split + m, m, w - m, h - m)
    else:
        text_box = Box(m, split + m // 2, w - m, h - m)
    title_box = Box(
        text_box.x0, text_box.y0, text_box.x1, text_box.y0 + text_box.height * 62 // 100
    )
    spec = FitSpec(frame.px(0.1), frame.min_size(0.03), 1.2, 0.0, valign=VAlign.MIDDLE)
    title = fit_text(paragraphs(slide.title, bullets=False), title_box, frame.fonts.bold, spec)
    top = (title.ink.y1 if title.ink else text_box.y0) + frame.px(0.05)
    rule = Box(
        text_box.x0, top - frame.px(0.025), text_box.x0 + frame.px(0.12), top - frame.px(0.016)
    )
    shapes.append(Shape(rule, palette.accent))
    sub_box = Box(text_box.x0, top, text_box.x1, text_box.y1)
    sub = fit_in(slide.content_text, sub_box, frame.fonts.regular, frame, 0.045, 0.016)
    body = PaintedText(sub, palette.body_text, palette.accent)
    heading = PaintedText(title, palette.title_text, palette.accent)
    return Body(tuple(shapes), body, (), "divider", heading)


def feature_icon(
    slide: Slide, palette: Palette, box: Box, *, colour: RGB | None = None
) -> list[Shape]:
    """The icon the slide's visual description (else its title) asks for, in ``box``."""
    names = icons_for(f"{slide.visual_desc}\n{slide.title}", limit=1) or ("star",)
    icon = glyph(names[0])
    if not icon or box.width <= 0 or box.height <= 0:
        return []
    return [Shape(box, colour or palette.cover_accent, ShapeKind.ICON, glyph=icon)]
