"""The body of a content slide, arranged for what its text is.

Each arrangement takes the area below the header and returns shapes and fitted text:
stat cards, a timeline, cards side by side, a comparison, a quote, a section divider, a
list of points, or text across the full width.
"""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.core.slide import Slide
from slidebatch.render.charts import chart as draw_chart
from slidebatch.render.content import ChartKind, Item, Reading, series
from slidebatch.render.fonts import FontFace
from slidebatch.render.frame import Frame
from slidebatch.render.icons import FALLBACK_ICONS, glyph, icons_for
from slidebatch.render.palette import RGB, Palette, mix
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

__all__ = ["Body", "Reading"]


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
            Box(divider_x, area.y0, divider_x + frame.px(0.003), area.y1), _tint(palette, 0.8)
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


def stats(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """Stat cards: an icon, the figure large, what it measures, and where it came from."""
    figures = reading.figures
    shapes: list[Shape] = []
    texts: list[PaintedText] = []
    names = _icons(slide, [Item(f.label, "", None) for f in figures])
    for figure, box, name in zip(figures, frame.columns(area, len(figures)), names, strict=False):
        shapes.append(_card(box, palette, frame))
        inner = _inset(box, frame.px(0.03))
        disc = frame.px(0.11)
        shapes += _icon_disc(
            Box(inner.x0, inner.y0, inner.x0 + disc, inner.y0 + disc), name, palette
        )
        top = inner.y0 + disc + frame.px(0.03)
        big = _fit(
            figure.shown,
            Box(inner.x0, top, inner.x1, top + frame.px(0.15)),
            frame.fonts.bold,
            frame,
            0.12,
            0.03,
        )
        texts.append(PaintedText(big, palette.title_text, palette.accent))
        below = (big.ink.y1 if big.ink else top) + frame.px(0.03)
        label_box = Box(
            inner.x0, below, inner.x1, inner.y1 - (frame.px(0.07) if figure.before else 0)
        )
        label = _fit(figure.label, label_box, frame.fonts.regular, frame, 0.045, 0.014)
        texts.append(PaintedText(label, palette.body_text, palette.accent))
        if figure.before:
            was = _fit(
                f"{figure.before} → {figure.shown}",
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
    count = len(items)
    columns = frame.columns(area, count, gap_fraction=0.02)
    head_h = frame.px(0.09)
    node = frame.px(0.07)
    line_y = area.y0 + head_h + node // 2 + frame.px(0.01)
    if not frame.landscape:
        return cards(slide, reading, palette, frame, area)
    shapes = [
        Shape(
            Box(area.x0, line_y - frame.px(0.004), area.x1, line_y + frame.px(0.004)),
            _tint(palette, 0.55),
        )
    ]
    texts: list[PaintedText] = []
    # The line ends in what the description marks the way with (a flag by default).
    end = (icons_for(slide.visual_desc, limit=8) or ("flag-checkered",))[-1]
    tip = frame.px(0.05)
    shapes.append(
        Shape(
            Box(area.x1 - tip, line_y - tip // 2, area.x1, line_y + tip // 2),
            palette.primary,
            ShapeKind.ICON,
            glyph=glyph(end) or "",
        )
    )
    names = _icons(slide, items)
    for index, (item, column, name) in enumerate(zip(items, columns, names, strict=False)):
        cx = (column.x0 + column.x1) // 2
        head = item.head or f"{index + 1}"
        label = _fit(
            head,
            Box(column.x0, area.y0, column.x1, area.y0 + head_h),
            frame.fonts.bold,
            frame,
            0.045,
            0.016,
            align=Align.CENTER,
        )
        texts.append(PaintedText(label, palette.title_text, palette.accent))
        shapes.append(
            Shape(
                Box(cx - node // 2, line_y - node // 2, cx + node // 2, line_y + node // 2),
                palette.accent,
                ShapeKind.ELLIPSE,
            )
        )
        icon = glyph(name)
        if icon:
            pad = node // 4
            shapes.append(
                Shape(
                    Box(
                        cx - node // 2 + pad,
                        line_y - node // 2 + pad,
                        cx + node // 2 - pad,
                        line_y + node // 2 - pad,
                    ),
                    palette.background,
                    ShapeKind.ICON,
                    glyph=icon,
                )
            )
        card = Box(column.x0, line_y + node // 2 + frame.px(0.035), column.x1, area.y1)
        shapes.append(_card(card, palette, frame))
        stem = Box(cx - frame.px(0.002), line_y + node // 2, cx + frame.px(0.002), card.y0)
        shapes.append(Shape(stem, _tint(palette, 0.55)))
        body = _fit(
            item.body if item.head else item.text,
            _inset(card, frame.px(0.025)),
            frame.fonts.regular,
            frame,
            0.046,
            0.013,
        )
        texts.append(PaintedText(body, palette.body_text, palette.accent))
    return Body(tuple(shapes), None, tuple(texts), "timeline")


def cards(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """Parallel items side by side, each with an icon, its heading and its text."""
    items = reading.items
    shapes: list[Shape] = []
    texts: list[PaintedText] = []
    names = _icons(slide, items)
    for index, (item, box, name) in enumerate(
        zip(items, frame.columns(area, len(items)), names, strict=False)
    ):
        shapes.append(_card(box, palette, frame))
        shapes.append(
            Shape(
                Box(box.x0, box.y0, box.x1, box.y0 + frame.px(0.01)),
                palette.accent if index % 2 else palette.primary,
            )
        )
        inner = _inset(box, frame.px(0.03))
        disc = min(frame.px(0.16), inner.width // 2)
        x0 = (inner.x0 + inner.x1 - disc) // 2 if frame.landscape else inner.x0
        shapes += _icon_disc(Box(x0, inner.y0, x0 + disc, inner.y0 + disc), name, palette)
        top = inner.y0 + disc + frame.px(0.03)
        align = Align.CENTER if frame.landscape else Align.LEFT
        if item.head:
            head = _fit(
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
        body = _fit(
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
        shapes.append(_card(box, palette, frame))
        band = Box(box.x0, box.y0, box.x1, box.y0 + band_h)
        shapes.append(Shape(band, colour, ShapeKind.ROUNDED, radius=frame.px(0.015)))
        head = _fit(
            item.head or item.body[:24],
            _inset(band, frame.px(0.015)),
            frame.fonts.bold,
            frame,
            0.05,
            0.014,
            align=Align.CENTER,
            valign=VAlign.MIDDLE,
        )
        texts.append(PaintedText(head, _on(colour, palette), colour))
        body = _fit(
            item.body if item.head else item.text,
            _inset(Box(box.x0, band.y1, box.x1, box.y1), frame.px(0.04)),
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
    vs = _fit(
        "VS",
        _inset(disc, badge // 5),
        frame.fonts.bold,
        frame,
        0.04,
        0.01,
        align=Align.CENTER,
        valign=VAlign.MIDDLE,
    )
    texts.append(PaintedText(vs, _on(palette.primary, palette), palette.accent))
    return Body(tuple(shapes), None, tuple(texts), "comparison")


def quote(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """A quotation set large on a tinted panel, its attribution below."""
    text = slide.content_text.strip()
    said, _, source = text.partition("\n")
    for mark in ("— ", "—", "-- "):
        if mark in said and not source:
            said, _, source = said.rpartition(mark)
    panel = _card(area, palette, frame)
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
        shapes.append(Shape(art, _tint(palette, 0.7), ShapeKind.ICON, glyph=glyph(named[0]) or ""))
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
        by = _fit(
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
    ring = Box(
        cx - size // 2 - frame.px(0.04),
        cy - size // 2 - frame.px(0.04),
        cx + size // 2 + frame.px(0.04),
        cy + size // 2 + frame.px(0.04),
    )
    shapes.append(Shape(ring, palette.accent, ShapeKind.ELLIPSE, width=frame.px(0.008)))
    shapes += feature_icon(
        slide,
        palette,
        Box(cx - size // 3, cy - size // 3, cx + size // 3, cy + size // 3),
        colour=_on(palette.primary, palette),
    )
    text_box = (
        Box(split + m, m, w - m, h - m) if frame.landscape else Box(m, split + m // 2, w - m, h - m)
    )
    title = fit_text(
        paragraphs(slide.title, bullets=False),
        Box(text_box.x0, text_box.y0, text_box.x1, text_box.y0 + round(text_box.height * 0.62)),
        frame.fonts.bold,
        FitSpec(
            frame.px(0.1),
            frame.min_size(0.03),
            line_spacing=1.2,
            paragraph_gap=0.0,
            valign=VAlign.MIDDLE,
        ),
    )
    sub_top = (title.ink.y1 if title.ink else text_box.y0) + frame.px(0.05)
    shapes.append(
        Shape(
            Box(
                text_box.x0,
                sub_top - frame.px(0.025),
                text_box.x0 + frame.px(0.12),
                sub_top - frame.px(0.016),
            ),
            palette.accent,
        )
    )
    sub = _fit(
        slide.content_text,
        Box(text_box.x0, sub_top, text_box.x1, text_box.y1),
        frame.fonts.regular,
        frame,
        0.045,
        0.016,
    )
    return Body(
        tuple(shapes),
        PaintedText(sub, palette.body_text, palette.accent),
        (),
        "divider",
        PaintedText(title, palette.title_text, palette.accent),
    )


def chart(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    """The items' figures as a chart on a panel, the items themselves beside it."""
    data = series(reading.items)
    chart_box, side = frame.split(area, text_share=0.64)
    panel = _card(chart_box, palette, frame)
    inner = _inset(chart_box, frame.px(0.04))
    kind = reading.chart or ChartKind.BARS
    colours = (palette.primary, palette.accent, palette.title_text)
    shapes, texts = draw_chart(
        kind,
        [(shown, value) for _name, shown, value in data],
        inner,
        frame,
        colours,
        _tint(palette, 0.84),
        names=[name for name, _shown, _value in data],
    )
    listed = points(slide, reading, palette, frame, side)
    return Body((panel, *shapes), listed.body, tuple(texts), "chart")


def feature_icon(
    slide: Slide, palette: Palette, box: Box, *, colour: RGB | None = None
) -> list[Shape]:
    """The icon the slide's visual description (else its title) asks for, in ``box``."""
    names = icons_for(f"{slide.visual_desc}\n{slide.title}", limit=1) or ("star",)
    icon = glyph(names[0])
    if not icon or box.width <= 0 or box.height <= 0:
        return []
    return [Shape(box, colour or palette.cover_accent, ShapeKind.ICON, glyph=icon)]


# --- helpers ---------------------------------------------------------------------------


def _fit(
    text: str,
    box: Box,
    face: FontFace,
    frame: Frame,
    largest: float,
    smallest: float,
    *,
    align: Align = Align.LEFT,
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


def _icons(slide: Slide, items: list[Item] | tuple[Item, ...]) -> list[str]:
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


def _icon_disc(box: Box, name: str, palette: Palette) -> list[Shape]:
    shapes = [Shape(box, _tint(palette, 0.78, palette.accent), ShapeKind.ELLIPSE)]
    icon = glyph(name)
    if icon:
        shapes.append(
            Shape(_inset(box, box.width // 4), palette.primary, ShapeKind.ICON, glyph=icon)
        )
    return shapes


def _card(box: Box, palette: Palette, frame: Frame) -> Shape:
    return Shape(
        box,
        _tint(palette, 0.93),
        ShapeKind.ROUNDED,
        radius=frame.px(0.02),
        colour_end=_tint(palette, 0.84),
    )


def _tint(palette: Palette, keep: float, colour: RGB | None = None) -> RGB:
    """``colour`` (default primary) mixed into the background, ``keep`` of the background kept."""
    return mix(colour or palette.primary, palette.background, keep)


def _on(colour: RGB, palette: Palette) -> RGB:
    from slidebatch.render.palette import readable

    return readable(colour, palette.background)


def _inset(box: Box, pad: int) -> Box:
    pad = max(0, min(pad, box.width // 2 - 1, box.height // 2 - 1))
    return Box(box.x0 + pad, box.y0 + pad, box.x1 - pad, box.y1 - pad)
