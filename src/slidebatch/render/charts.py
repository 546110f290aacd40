"""Simple charts drawn from figures in the text: bars, a donut, a line.

Shapes and small labels only, inside the box given; values are scaled to the largest.
"""

from __future__ import annotations

from collections.abc import Sequence

from slidebatch.render.content import ChartKind
from slidebatch.render.frame import Frame
from slidebatch.render.palette import RGB, mix
from slidebatch.render.scene import PaintedText, Shape, ShapeKind
from slidebatch.render.textfit import Align, Box, FitSpec, fit_text, paragraphs

Series = Sequence[tuple[str, float]]
# A rising trend for descriptions that ask for a chart the text has no figures for.
ILLUSTRATIVE: Series = (("", 2.0), ("", 3.1), ("", 2.7), ("", 4.2), ("", 4.9), ("", 6.3))


def chart(
    kind: ChartKind,
    series: Series,
    box: Box,
    frame: Frame,
    colours: tuple[RGB, RGB, RGB],  # main, accent, text
    backdrop: RGB,
    names: Sequence[str] = (),
) -> tuple[list[Shape], list[PaintedText]]:
    """``series`` as a ``kind`` chart in ``box``; ``names`` label the bars or points."""
    series = [(shown, value) for shown, value in series if value >= 0][:8] or list(ILLUSTRATIVE)
    if kind is ChartKind.DONUT:
        return _donut(series, box, frame, colours, backdrop)
    names = list(names)[: len(series)]
    texts: list[PaintedText] = []
    if names and len(names) == len(series):
        name_h = frame.px(0.06)
        slot = box.width // len(names)
        for index, name in enumerate(names):
            x0 = box.x0 + index * slot
            texts.append(
                _label(name, Box(x0, box.y1 - name_h, x0 + slot, box.y1), frame, colours[2])
            )
        box = Box(box.x0, box.y0, box.x1, box.y1 - name_h - frame.px(0.015))
    if kind is ChartKind.LINE:
        shapes, labels = _line(series, box, frame, colours)
    else:
        shapes, labels = _bars(series, box, frame, colours)
    return shapes, labels + texts


def _label(text: str, box: Box, frame: Frame, colour: RGB, size: float = 0.03) -> PaintedText:
    block = fit_text(
        paragraphs(text, bullets=False),
        box,
        frame.fonts.bold,
        FitSpec(frame.px(size), frame.min_size(0.012), align=Align.CENTER),
    )
    return PaintedText(block, colour, colour)


def _bars(
    series: Series, box: Box, frame: Frame, colours: tuple[RGB, RGB, RGB]
) -> tuple[list[Shape], list[PaintedText]]:
    main, accent, ink = colours
    label_h = frame.px(0.05)
    plot = Box(box.x0, box.y0 + label_h, box.x1, box.y1 - frame.px(0.01))
    top = max(value for _shown, value in series) or 1.0
    slot = plot.width // len(series)
    bar_w = max(1, round(slot * 0.6))
    shapes = [Shape(Box(plot.x0, plot.y1, plot.x1, min(box.y1, plot.y1 + frame.px(0.006))), ink)]
    texts: list[PaintedText] = []
    for index, (shown, value) in enumerate(series):
        height = max(frame.px(0.01), round(plot.height * value / top))
        x0 = plot.x0 + index * slot + (slot - bar_w) // 2
        colour = accent if index == len(series) - 1 else main
        bar = Box(x0, plot.y1 - height, x0 + bar_w, plot.y1)
        shapes.append(Shape(bar, colour, ShapeKind.ROUNDED, radius=max(1, bar_w // 8)))
        if shown:
            texts.append(
                _label(
                    shown,
                    Box(
                        x0 - slot // 5,
                        max(box.y0, bar.y0 - label_h),
                        x0 + bar_w + slot // 5,
                        bar.y0,
                    ),
                    frame,
                    ink,
                )
            )
    return shapes, texts


def _donut(
    series: Series, box: Box, frame: Frame, colours: tuple[RGB, RGB, RGB], backdrop: RGB
) -> tuple[list[Shape], list[PaintedText]]:
    main, accent, ink = colours
    values = [value for _shown, value in series]
    total = sum(values)
    if all(shown.endswith(("%", "％")) for shown, _v in series) and total < 100:
        values.append(100 - total)
        total = 100
    size = min(box.width, box.height)
    cx, cy = (box.x0 + box.x1) // 2, (box.y0 + box.y1) // 2
    ring = Box(cx - size // 2, cy - size // 2, cx + size // 2, cy + size // 2)
    shades = [mix(main, accent, i / max(1, len(values) - 1)) for i in range(len(values))]
    shapes: list[Shape] = []
    start = -90.0
    for value, shade in zip(values, shades, strict=True):
        sweep = 360.0 * value / (total or 1.0)
        shapes.append(Shape(ring, shade, ShapeKind.WEDGE, start=start, end=start + sweep))
        start += sweep
    hole = size * 3 // 10
    shapes.append(
        Shape(Box(cx - hole, cy - hole, cx + hole, cy + hole), backdrop, ShapeKind.ELLIPSE)
    )
    texts = []
    if series[0][0]:
        texts.append(
            _label(
                series[0][0],
                Box(cx - hole, cy - hole // 2, cx + hole, cy + hole // 2),
                frame,
                ink,
                0.05,
            )
        )
    return shapes, texts


def _line(
    series: Series, box: Box, frame: Frame, colours: tuple[RGB, RGB, RGB]
) -> tuple[list[Shape], list[PaintedText]]:
    main, accent, ink = colours
    label_h = frame.px(0.05)
    dot = frame.px(0.022)
    plot = Box(box.x0 + dot, box.y0 + label_h + dot, box.x1 - dot, box.y1 - dot)
    values = [value for _shown, value in series]
    low, high = min([*values, 0.0]), max(values) or 1.0
    step = plot.width / max(1, len(series) - 1)
    points = [
        (
            round(plot.x0 + i * step),
            round(plot.y1 - (v - low) / ((high - low) or 1.0) * plot.height),
        )
        for i, v in enumerate(values)
    ]
    if len(points) == 1:
        points.append((plot.x1, points[0][1]))
    shapes = [
        Shape(
            Box(
                box.x0,
                plot.y1 + dot // 2,
                box.x1,
                min(box.y1, plot.y1 + dot // 2 + frame.px(0.005)),
            ),
            ink,
        )
    ]
    shapes.append(
        Shape(
            Box(box.x0, box.y0, box.x1, box.y1),
            main,
            ShapeKind.LINE,
            width=frame.px(0.012),
            points=tuple(points),
        )
    )
    texts = []
    for (x, y), (shown, _v) in zip(points, series, strict=False):
        shapes.append(Shape(Box(x - dot, y - dot, x + dot, y + dot), accent, ShapeKind.ELLIPSE))
        if shown:
            texts.append(
                _label(
                    shown,
                    Box(
                        max(box.x0, x - frame.px(0.1)),
                        max(box.y0, y - dot - label_h),
                        min(box.x1, x + frame.px(0.1)),
                        y - dot,
                    ),
                    frame,
                    ink,
                )
            )
    return shapes, texts
