"""Where everything on a locally rendered slide goes: boxes in pixels, fitted text, colours.

Content slides get a header (accent bar, title, rule, page number) and a body arranged for
what the text is (``content.read_slide``): stat cards, a timeline, cards, a quote, a
comparison, a section divider, or text beside an illustration of the visual description.
Sizes are fractions of the short side, so one set of proportions serves every aspect ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.render import blocks, columns
from slidebatch.render.content import Kind, Reading, read_slide
from slidebatch.render.fonts import FontSet, find_fonts
from slidebatch.render.frame import Frame
from slidebatch.render.illustration import illustrate
from slidebatch.render.mirror import mirrored, reads_right_to_left
from slidebatch.render.notes import slide_warnings
from slidebatch.render.palette import RGB, Palette, mix, palette_from_style
from slidebatch.render.parts import Body, empty
from slidebatch.render.scene import PaintedText, Shape, SlideLayout
from slidebatch.render.textfit import Align, Box, FitSpec, VAlign, fit_text, paragraphs

PLACEHOLDER_FILL: RGB = (0xFA, 0xCC, 0x15)  # signal yellow: never part of a palette's look
PLACEHOLDER_TEXT: RGB = (0x11, 0x11, 0x11)

__all__ = ["PLACEHOLDER_FILL", "PaintedText", "Shape", "SlideLayout", "layout_slide"]


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
    frame = Frame(width, height, fonts)
    if slide.type is SlideType.CONTENT:
        layout = _content(slide, palette, frame)
    else:
        layout = _feature(slide, palette, frame, centred=slide.type is SlideType.ENDING)
    if reads_right_to_left(slide):
        layout = mirrored(layout)
    if placeholder_reason is not None:
        layout = _with_placeholder(layout, placeholder_reason, frame)
    return replace(layout, warnings=slide_warnings(layout, fonts))


@dataclass(frozen=True, slots=True)
class _Header:
    title: PaintedText
    page: PaintedText
    shapes: tuple[Shape, ...]
    area: Box  # what is left for the body


def _header(slide: Slide, palette: Palette, frame: Frame) -> _Header:
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
    shapes = (
        Shape(Box(0, 0, w, frame.px(0.012)), palette.primary),
        Shape(Box(bar.x0, title_ink.y0, bar.x1, title_ink.y1), palette.primary),
        Shape(
            Box(text_x, rule_y, text_x + frame.px(0.12), rule_y + frame.px(0.006)), palette.accent
        ),
    )
    area = Box(text_x, rule_y + frame.px(0.05), w - m, page_box.y0 - frame.px(0.02))
    return _Header(
        PaintedText(title, palette.title_text, palette.accent),
        PaintedText(page, palette.muted_text, palette.accent),
        shapes,
        area,
    )


def _content(slide: Slide, palette: Palette, frame: Frame) -> SlideLayout:
    reading = read_slide(slide)
    header = _header(slide, palette, frame)
    if reading.kind is Kind.DIVIDER:
        body = blocks.divider(slide, palette, frame)
        title = body.title or header.title
        shapes: tuple[Shape, ...] = body.shapes
    else:
        body = _body(slide, reading, palette, frame, header.area)
        title = header.title
        shapes = header.shapes + body.shapes
    return SlideLayout(
        width=frame.width,
        height=frame.height,
        slide_type=SlideType.CONTENT,
        palette=palette,
        background=palette.background,
        background_end=palette.background,
        shapes=shapes,
        title=title,
        body=body.body or PaintedText(empty(header.area, frame), palette.body_text, palette.accent),
        page=header.page,
        placeholder=None,
        extras=body.texts,
        kind=body.kind,
    )


def _body(slide: Slide, reading: Reading, palette: Palette, frame: Frame, area: Box) -> Body:
    kind = reading.kind
    if kind is Kind.STATS:
        return columns.stats(slide, reading, palette, frame, area)
    if kind is Kind.TIMELINE:
        return columns.timeline(slide, reading, palette, frame, area)
    if kind is Kind.CARDS:
        return columns.cards(slide, reading, palette, frame, area)
    if kind is Kind.COMPARISON:
        return columns.comparison(slide, reading, palette, frame, area)
    if kind is Kind.QUOTE:
        return blocks.quote(slide, reading, palette, frame, area)
    if kind is Kind.CHART:
        return blocks.chart(slide, reading, palette, frame, area)
    if kind is Kind.DENSE or not slide.visual_desc.strip():
        return blocks.text_only(slide, reading, palette, frame, area)
    text_area, panel = frame.split(area, text_share=0.56)
    body = blocks.points(slide, reading, palette, frame, text_area)
    art = illustrate(slide, reading, palette, frame, panel, on_cover=False)
    return Body(body.shapes + art.shapes, body.body, body.texts + art.texts, "bullets")


def _feature(slide: Slide, palette: Palette, frame: Frame, *, centred: bool) -> SlideLayout:
    """Cover (left-aligned, illustrated side panel) and ending (centred): the cover colour."""
    w, h, m = frame.width, frame.height, frame.margin
    side = round(m * 1.4)
    panel = frame.landscape and not centred
    right = round(w * 0.62) if panel else w - side
    align = Align.CENTER if centred else Align.LEFT
    top = round(h * (0.3 if centred else 0.2))
    title = fit_text(
        paragraphs(slide.title, bullets=False),
        Box(side, top, right, round(h * 0.58)),
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
    texts: tuple[PaintedText, ...] = ()
    reading = read_slide(slide)
    if panel:
        art_box = Box(round(w * 0.66), m, w - m, h - m)
        art = illustrate(slide, reading, palette, frame, art_box, on_cover=True)
        shapes = [*art.shapes, *shapes]
        texts = art.texts
    elif centred:
        size = frame.px(0.16)
        icon_box = Box((w - size) // 2, max(0, top - size - frame.px(0.02)), (w + size) // 2, top)
        shapes += list(blocks.feature_icon(slide, palette, icon_box))
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
        extras=texts,
        kind="ending" if centred else "cover",
    )


def _with_placeholder(layout: SlideLayout, reason: str, frame: Frame) -> SlideLayout:
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
    return replace(
        layout,
        shapes=(*layout.shapes, Shape(band, PLACEHOLDER_FILL)),
        placeholder=PaintedText(text, PLACEHOLDER_TEXT, PLACEHOLDER_TEXT),
    )
