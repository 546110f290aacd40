"""The visual description drawn: a panel with a chart when one is asked for, else icons.

Icons come from the description's keywords (then the title's), in the order the
description names them: the first large in a ring, the others smaller beneath it.
"""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.core.slide import Slide
from slidebatch.render.charts import chart
from slidebatch.render.content import Reading, like_numbers
from slidebatch.render.frame import Frame
from slidebatch.render.icons import FALLBACK_ICONS, glyph, icons_for
from slidebatch.render.palette import RGB, Palette, contrast, mix, readable
from slidebatch.render.scene import PaintedText, Shape, ShapeKind
from slidebatch.render.textfit import Box

ICON_CONTRAST = 3.0  # WCAG 1.4.11, non-text contrast


@dataclass(frozen=True, slots=True)
class Art:
    shapes: tuple[Shape, ...]
    texts: tuple[PaintedText, ...]


def illustrate(
    slide: Slide, reading: Reading, palette: Palette, frame: Frame, box: Box, *, on_cover: bool
) -> Art:
    """The illustration panel for ``slide`` in ``box``."""
    if box.width < 8 or box.height < 8:
        return Art((), ())
    if on_cover:
        base = palette.cover_background
        fill, fill_end = mix(base, (255, 255, 255), 0.1), mix(base, (255, 255, 255), 0.03)
        ink, disc, ring = palette.cover_text, mix(base, (255, 255, 255), 0.18), palette.cover_accent
    else:
        base = palette.background
        fill, fill_end = mix(palette.primary, base, 0.92), mix(palette.primary, base, 0.8)
        ink, disc, ring = palette.title_text, mix(palette.accent, base, 0.75), palette.accent
    radius = frame.px(0.025)
    shapes: list[Shape] = [Shape(box, fill, ShapeKind.ROUNDED, radius=radius, colour_end=fill_end)]
    pad = frame.px(0.04)
    inner = Box(box.x0 + pad, box.y0 + pad, box.x1 - pad, box.y1 - pad)
    if reading.chart is not None and not on_cover and inner.width > 16 and inner.height > 16:
        series = [(shown, value) for _name, shown, value in reading.plot] or like_numbers(
            slide.content_text, reading.chart
        )
        drawn, texts = chart(
            reading.chart,
            series if len(series) >= 2 else (),
            inner,
            frame,
            (palette.primary, palette.accent, ink),
            fill_end,
        )
        return Art(tuple(shapes + drawn), tuple(texts))
    names = icons_for(f"{slide.visual_desc}\n{slide.title}", limit=4) or FALLBACK_ICONS[:3]
    shapes += _icons(names, inner, frame, disc, ring, icon_inks(disc, ink, ring))
    return Art(tuple(shapes), ())


def icon_inks(disc: RGB, ink: RGB, accent: RGB) -> tuple[RGB, RGB]:
    """The colours of the large icon and the small ones, each visible on its ``disc``.

    The large icon takes the title colour when it reaches text contrast (4.5) on the disc,
    else near-white or near-black: on a dark palette the title colour is a mid grey that
    faded into the disc. The small icons keep the accent when it reaches the 3:1 WCAG asks
    of graphics (1.4.11), else the large icon's colour (gold on a cream disc was 1.7:1).
    """
    large = readable(disc, ink)
    small = accent if contrast(accent, disc) >= ICON_CONTRAST else large
    return large, small


def _icons(
    names: tuple[str, ...],
    inner: Box,
    frame: Frame,
    disc: RGB,
    ring: RGB,
    inks: tuple[RGB, RGB],
) -> list[Shape]:
    shapes: list[Shape] = []
    extra = [n for n in names[1:] if glyph(n)]
    small = (
        min(inner.width // max(1, len(extra)) - frame.px(0.03), round(inner.height * 0.24))
        if extra
        else 0
    )
    main_h = inner.height - (small + frame.px(0.04) if small > 0 else 0)
    size = max(1, min(inner.width, main_h))
    cx, cy = (inner.x0 + inner.x1) // 2, inner.y0 + main_h // 2
    outer = Box(cx - size // 2, cy - size // 2, cx + size // 2, cy + size // 2)
    shapes.append(Shape(outer, ring, ShapeKind.ELLIPSE, width=max(1, frame.px(0.006))))
    core = _shrink(outer, 0.84)
    shapes.append(Shape(core, disc, ShapeKind.ELLIPSE))
    large, small_ink = inks
    icon = glyph(names[0])
    if icon:
        shapes.append(Shape(_shrink(core, 0.56), large, ShapeKind.ICON, glyph=icon))
    if small > 0:
        gap = (inner.width - small * len(extra)) // (len(extra) + 1)
        y0 = inner.y1 - small
        for index, name in enumerate(extra):
            x0 = inner.x0 + gap + index * (small + gap)
            spot = Box(x0, y0, x0 + small, y0 + small)
            shapes.append(Shape(spot, disc, ShapeKind.ELLIPSE))
            icon_box = _shrink(spot, 0.55)
            shapes.append(Shape(icon_box, small_ink, ShapeKind.ICON, glyph=glyph(name) or ""))
    return shapes


def _shrink(box: Box, share: float) -> Box:
    w, h = round(box.width * share), round(box.height * share)
    cx, cy = (box.x0 + box.x1) // 2, (box.y0 + box.y1) // 2
    return Box(cx - w // 2, cy - h // 2, cx - w // 2 + w, cy - h // 2 + h)
