"""Right-to-left slides (Arabic, Hebrew): mirrored layout, lines in reading order, bold titles;
and icons that stay visible on their discs whatever the palette."""

from __future__ import annotations

from pathlib import Path

import pytest

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.render.fonts import FontFace, find_fonts
from slidebatch.render.glyphs import base_rtl, load_font
from slidebatch.render.layout import layout_slide
from slidebatch.render.palette import contrast
from slidebatch.render.scene import Shape, ShapeKind, SlideLayout

WIDE = AspectRatio(16, 9)
ARABIC_TITLE = "أهداف المنتج"
ARABIC_POINTS = "- زيادة المستخدمين النشطين بنسبة 20%\n- إطلاق API جديد للشركاء"
HEBREW_TITLE = "סקירת רבעון"


def _needs(name: str, *, bold_cut: bool = False) -> FontFace:
    """The installed fallback face ``name``; with ``bold_cut``, only if its -Bold file is too."""
    for face in find_fonts().regular.fallbacks:
        path = Path(face.path or "")
        if path.name == name and (not bold_cut or _bold_file(path).is_file()):
            return face
    pytest.skip(f"{name} (and its bold cut) not installed (Debian: fonts-noto-core)")


def _bold_file(path: Path) -> Path:
    return path.with_name(path.name.replace("-Regular.", "-Bold."))


def _texts(line: str) -> list[str]:
    return [text for _face, text in load_font(find_fonts().regular, 40).runs(line)]


def test_a_right_to_left_line_is_drawn_from_the_right() -> None:
    """Runs come in drawing order: the first Arabic word rightmost, 'API' between, one space
    each side; a figure such as '20%' keeps its own order at the line's left end."""
    _needs("NotoNaskhArabic-Regular.ttf")
    assert _texts("إطلاق API جديد للشركاء") == ["جديد للشركاء", " ", "API", " ", "إطلاق"]
    assert _texts("زيادة بنسبة 20%") == ["20%", " ", "زيادة بنسبة"]
    # A left-to-right line keeps logical order, Arabic inside it included.
    assert "".join(_texts("Plan: إطلاق API")) == "Plan: إطلاق API"


def test_base_direction_is_the_first_strong_character() -> None:
    """'20% growth' reads left to right, '20% نمو' right to left, figures alone neither."""
    assert base_rtl("20% نمو")
    assert base_rtl(HEBREW_TITLE)
    assert not base_rtl("20% growth")
    assert not base_rtl("2024 — 42%")


def _layout(title: str, content: str) -> SlideLayout:
    slide = Slide("r", 2, SlideType.CONTENT, title, content, "a lightbulb and a globe")
    return layout_slide(slide, "deep navy #0B1F3A background, gold accents", WIDE, long_side=960)


@pytest.mark.parametrize(
    ("title", "content", "rtl"),
    [
        (ARABIC_TITLE, ARABIC_POINTS, True),
        (HEBREW_TITLE, "- צמיחה בהכנסות\n- שני לקוחות חדשים", True),
        ("Product goals", "- Grow active users\n- Ship the partner API", False),
    ],
    ids=["arabic", "hebrew", "english"],
)
def test_right_to_left_slides_are_laid_out_as_a_mirror(title: str, content: str, rtl: bool) -> None:
    """Arabic and Hebrew: title at the right edge, bullets right of their lines, the
    illustration on the left, the page number bottom left; English as before."""
    layout = _layout(title, content)
    middle = layout.width / 2
    title_ink = layout.title.block.ink
    assert title_ink is not None
    body = layout.body.block
    marker = body.markers[0]
    first_line = body.lines[0].ink
    icon = next(s for s in layout.shapes if s.kind is ShapeKind.ICON)
    page = layout.page.block.ink if layout.page else None
    assert page is not None
    if rtl:
        assert title_ink.x0 > middle
        assert marker.x0 >= first_line.x1
        assert icon.box.x1 < middle
        assert page.x1 < middle
    else:
        assert title_ink.x1 < middle
        assert marker.x1 <= first_line.x0
        assert icon.box.x0 > middle
        assert page.x0 > middle


def test_right_to_left_titles_are_bold() -> None:
    """An Arabic or Hebrew title is drawn from the bold cut of its script's font."""
    _needs("NotoNaskhArabic-Regular.ttf", bold_cut=True)
    _needs("NotoSansHebrew-Regular.ttf", bold_cut=True)
    bold = load_font(find_fonts().bold, 40)
    for title in (ARABIC_TITLE, HEBREW_TITLE):
        faces = {Path(face.path or "").name for face, text in bold.runs(title) if text.strip()}
        assert faces
        assert all("-Bold." in name for name in faces), faces
    regular = load_font(find_fonts().regular, 40)
    assert all("-Regular." in (face.path or "") for face, _ in regular.runs(ARABIC_TITLE))


STYLES = [
    "deep navy #0B1F3A background, gold accents",
    "dark mode, black background #111111, neon green #39FF14 accents",
    "商务简洁风格，深蓝 #1A365D 主色，金色 #D4AF37 点缀",
    "clean white, blue #1F6FEB accents",
    "warm beige #F5E6C8 background, brown #6B4226 text, orange #E07A1F accents",
]


def _disc_under(icon: Shape, shapes: tuple[Shape, ...]) -> Shape:
    discs = [
        s
        for s in shapes
        if s.kind is ShapeKind.ELLIPSE and not s.width and s.box.contains(icon.box)
    ]
    return discs[-1]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("slide_type", [SlideType.COVER, SlideType.CONTENT])
def test_icons_stand_out_from_their_discs(style: str, slide_type: SlideType) -> None:
    """Every icon reaches 3:1 (WCAG 1.4.11) against the disc it sits on, dark palettes too
    (the large icon was grey on an olive disc, 3.1:1; small gold ones on cream, 1.7:1)."""
    slide = Slide("i", 1, slide_type, "Goals", "- Grow\n- Ship", "a lightbulb, a globe, gears")
    layout = layout_slide(slide, style, WIDE, long_side=640)
    icons = [s for s in layout.shapes if s.kind is ShapeKind.ICON]
    assert len(icons) >= 2
    for icon in icons:
        disc = _disc_under(icon, layout.shapes)
        assert contrast(icon.colour, disc.colour) >= 3.0, (icon.glyph, icon.colour, disc.colour)
