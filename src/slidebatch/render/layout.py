"""Where everything on a locally rendered slide goes: boxes in pixels, fitted text, colours.

Separate from drawing so tests can check the geometry (every text box inside the canvas,
the title present) without reading pixels. Sizes are fractions of the short side, so one
set of proportions serves 16:9, 4:3, 1:1, 9:16 and 21:9 alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.render.fonts import FontSet, find_fonts
from slidebatch.render.palette import RGB, Palette, mix, palette_from_style
from slidebatch.render.textfit import (
    Align,
    Box,
    FitSpec,
    TextBlock,
    VAlign,
    fit_text,
    paragraphs,
)

PLACEHOLDER_FILL: RGB = (0xFA, 0xCC, 0x15)  # signal yellow: never part of a palette's look
PLACEHOLDER_TEXT: RGB = (0x11, 0x11, 0x11)


@dataclass(frozen=True, slots=True)
class Shape:
    """A filled rectangle (bars, bands, panels)."""

    box: Box
    colour: RGB


@dataclass(frozen=True, slots=True)
class PaintedText:
    """A fitted text block and the colours to draw it in."""

    block: TextBlock
    colour: RGB
    marker_colour: RGB


@dataclass(frozen=True, slots=True)
class SlideLayout:
    """Everything the painter needs; drawn back to front: background, shapes, texts."""

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

    @property
    def canvas(self) -> Box:
        return Box(0, 0, self.width, self.height)

    @property
    def texts(self) -> tuple[PaintedText, ...]:
        extra = tuple(t for t in (self.page, self.placeholder) if t is not None)
        return (self.title, self.body, *extra)


def layout_slide(
    slide: Slide,
    style_prompt: str,
    aspect_ratio: AspectRatio,
    *,
    long_side: int = 1920,
    placeholder_reason: str | None = None,
    fonts: FontSet | None = None,
) -> SlideLayout:
    """The layout of ``slide`` at ``aspect_ratio.render_size(long_side)``."""
    width, height = aspect_ratio.render_size(long_side)
    fonts = fonts or find_fonts()
    palette = palette_from_style(style_prompt)
    frame = _Frame(width, height, fonts)
    if slide.type is SlideType.CONTENT:
        layout = _content(slide, palette, frame)
    else:
        layout = _feature(slide, palette, frame, centred=slide.type is SlideType.ENDING)
    if placeholder_reason is not None:
        layout = _with_placeholder(layout, placeholder_reason, frame)
    return layout


@dataclass(frozen=True, slots=True)
class _Frame:
    width: int
    height: int
    fonts: FontSet

    @property
    def short(self) -> int:
        return min(self.width, self.height)

    @property
    def margin(self) -> int:
        return round(self.short * 0.075)

    @property
    def landscape(self) -> bool:
        return self.width >= self.height * 1.2

    def px(self, fraction: float) -> int:
        return max(1, round(self.short * fraction))

    def min_size(self, fraction: float) -> int:
        # Below ~8 px text is noise; tiny canvases (property tests) still get legible glyphs.
        return max(8, self.px(fraction))


def _content(slide: Slide, palette: Palette, frame: _Frame) -> SlideLayout:
    w, h, m = frame.width, frame.height, frame.margin
    bar = Box(m, m, m + frame.px(0.012), m + frame.px(0.02))
    text_x = bar.x1 + frame.px(0.03)
    title = fit_text(
        paragraphs(slide.title, bullets=False),
        Box(text_x, m, w - m, m + frame.px(0.2)),
        frame.fonts.bold,
        FitSpec(frame.px(0.075), frame.min_size(0.03), line_spacing=1.2, paragraph_gap=0.0),
    )
    title_ink = title.ink or Box(text_x, m, text_x, m + frame.px(0.06))
    page_size = frame.px(0.028)
    page_box = Box(w - m - frame.px(0.3), h - m // 2 - round(page_size * 1.6), w - m, h - m // 2)
    page = fit_text(
        paragraphs(str(slide.page_num), bullets=False),
        page_box,
        frame.fonts.regular,
        FitSpec(page_size, frame.min_size(0.018), align=Align.RIGHT),
    )
    rule_y = title_ink.y1 + frame.px(0.035)
    body_box = Box(text_x, rule_y + frame.px(0.05), w - m, page_box.y0 - frame.px(0.02))
    body = fit_text(
        paragraphs(slide.content_text, bullets=True),
        body_box,
        frame.fonts.regular,
        FitSpec(frame.px(0.045), frame.min_size(0.016), line_spacing=1.35),
    )
    shapes = (
        Shape(Box(0, 0, w, frame.px(0.012)), palette.primary),
        Shape(Box(bar.x0, title_ink.y0, bar.x1, title_ink.y1), palette.primary),
        Shape(
            Box(text_x, rule_y, text_x + frame.px(0.12), rule_y + frame.px(0.006)), palette.accent
        ),
    )
    return SlideLayout(
        width=w,
        height=h,
        slide_type=SlideType.CONTENT,
        palette=palette,
        background=palette.background,
        background_end=palette.background,
        shapes=shapes,
        title=PaintedText(title, palette.title_text, palette.accent),
        body=PaintedText(body, palette.body_text, palette.accent),
        page=PaintedText(page, palette.muted_text, palette.accent),
        placeholder=None,
    )


def _feature(slide: Slide, palette: Palette, frame: _Frame, *, centred: bool) -> SlideLayout:
    """Cover (left-aligned, side panel) and ending (centred): big title on the cover colour."""
    w, h, m = frame.width, frame.height, frame.margin
    side = round(m * 1.4)
    panel = frame.landscape and not centred
    right = round(w * 0.66) if panel else w - side
    align = Align.CENTER if centred else Align.LEFT
    title = fit_text(
        paragraphs(slide.title, bullets=False),
        Box(side, round(h * 0.2), right, round(h * 0.58)),
        frame.fonts.bold,
        FitSpec(
            frame.px(0.11),
            frame.min_size(0.035),
            line_spacing=1.18,
            paragraph_gap=0.0,
            align=align,
            valign=VAlign.MIDDLE,
        ),
    )
    ink = title.ink or Box(side, round(h * 0.38), right, round(h * 0.4))
    bar_w, bar_h = frame.px(0.14), frame.px(0.012)
    bar_x = (w - bar_w) // 2 if centred else side
    bar_y = ink.y1 + frame.px(0.045)
    body = fit_text(
        paragraphs(slide.content_text, bullets=False),
        Box(side, bar_y + bar_h + frame.px(0.05), right, h - side),
        frame.fonts.regular,
        FitSpec(frame.px(0.042), frame.min_size(0.016), line_spacing=1.4, align=align),
    )
    background_end = mix(palette.cover_background, (0, 0, 0), 0.28)
    shapes = [Shape(Box(bar_x, bar_y, bar_x + bar_w, bar_y + bar_h), palette.cover_accent)]
    if panel:
        panel_colour = mix(palette.cover_background, (255, 255, 255), 0.07)
        shapes.insert(0, Shape(Box(round(w * 0.72), 0, w, h), panel_colour))
        stripe = frame.px(0.008)
        shapes.insert(
            1, Shape(Box(round(w * 0.72), 0, round(w * 0.72) + stripe, h), palette.cover_accent)
        )
    return SlideLayout(
        width=w,
        height=h,
        slide_type=SlideType.ENDING if centred else SlideType.COVER,
        palette=palette,
        background=palette.cover_background,
        background_end=background_end,
        shapes=tuple(shapes),
        title=PaintedText(title, palette.cover_text, palette.cover_accent),
        body=PaintedText(body, palette.cover_muted, palette.cover_accent),
        page=None,
        placeholder=None,
    )


def _with_placeholder(layout: SlideLayout, reason: str, frame: _Frame) -> SlideLayout:
    """A signal-yellow band across the top saying this is a stand-in, and why."""
    band = Box(0, 0, frame.width, frame.px(0.06))
    pad = frame.px(0.015)
    label = " ".join(f"PLACEHOLDER — {reason}".split())
    text = fit_text(
        paragraphs(label, bullets=False),
        Box(
            frame.margin // 2,
            band.y0 + pad // 2,
            frame.width - frame.margin // 2,
            band.y1 - pad // 2,
        ),
        frame.fonts.bold,
        FitSpec(frame.px(0.03), frame.min_size(0.012), valign=VAlign.MIDDLE),
    )
    return SlideLayout(
        width=layout.width,
        height=layout.height,
        slide_type=layout.slide_type,
        palette=layout.palette,
        background=layout.background,
        background_end=layout.background_end,
        shapes=(*layout.shapes, Shape(band, PLACEHOLDER_FILL)),
        title=layout.title,
        body=layout.body,
        page=layout.page,
        placeholder=PaintedText(text, PLACEHOLDER_TEXT, PLACEHOLDER_TEXT),
    )
