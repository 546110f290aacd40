"""The offline renderer: exact sizes, determinism, geometry inside the canvas, text fitting."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.render import render_slide
from slidebatch.render.fonts import BUILTIN, find_fonts
from slidebatch.render.layout import SlideLayout, layout_slide
from slidebatch.render.textfit import Box, FitSpec, Paragraph, fit_text, paragraphs

STYLE = "商务风格，深蓝 #1A365D 与金色 #D4AF37 点缀"
WIDE = AspectRatio(16, 9)


def _slide(
    title: str = "市场机遇与挑战",
    content: str = "- 数字化转型加速\n- 新兴市场带来增量空间",
    slide_type: SlideType = SlideType.CONTENT,
) -> Slide:
    return Slide(id="s", page_num=2, type=slide_type, title=title, content_text=content)


def _assert_inside(layout: SlideLayout) -> None:
    canvas = layout.canvas
    for text in layout.texts:
        ink = text.block.ink
        if ink is not None:
            assert canvas.contains(ink), (ink, canvas)
            assert text.block.box.contains(ink), (ink, text.block.box)
        for line in text.block.lines:
            assert canvas.contains(line.ink)
    for shape in layout.shapes:
        assert canvas.contains(shape.box)


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ("16:9", (1920, 1080)),
        ("4:3", (1920, 1440)),
        ("1:1", (1920, 1920)),
        ("9:16", (1080, 1920)),
        ("21:9", (1920, 823)),
        ("3:2", (1920, 1280)),
        ("1.91:1", (1920, 1005)),
    ],
)
@pytest.mark.parametrize("slide_type", list(SlideType))
def test_png_has_exact_size_for_every_ratio(
    ratio: str, size: tuple[int, int], slide_type: SlideType
) -> None:
    """Each ratio renders a decodable PNG of exactly render_size(1920)."""
    aspect = AspectRatio.parse(ratio)
    data = render_slide(_slide(slide_type=slide_type), STYLE, aspect)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == size == aspect.render_size(1920)
    image.load()


def test_same_input_gives_same_bytes() -> None:
    """Rendering is deterministic; a different title changes the bytes."""
    first = render_slide(_slide(), STYLE, WIDE, long_side=640)
    assert render_slide(_slide(), STYLE, WIDE, long_side=640) == first
    assert render_slide(_slide(title="Other"), STYLE, WIDE, long_side=640) != first


@pytest.mark.parametrize("slide_type", list(SlideType))
@pytest.mark.parametrize("ratio", ["16:9", "9:16", "1:1", "21:9", "1:4", "4:1"])
def test_layout_boxes_inside_canvas_and_title_present(slide_type: SlideType, ratio: str) -> None:
    """Every text block and shape lies inside the canvas; the title has lines."""
    layout = layout_slide(_slide(slide_type=slide_type), STYLE, AspectRatio.parse(ratio))
    _assert_inside(layout)
    assert layout.title.block.lines
    assert layout.title.block.ink is not None


@pytest.mark.usefixtures("cjk_font")
@pytest.mark.parametrize("slide_type", list(SlideType))
@pytest.mark.parametrize("ratio", ["16:9", "9:16", "1:1", "21:9", "1:4", "4:1"])
def test_a_chinese_title_is_drawn_at_a_readable_width(slide_type: SlideType, ratio: str) -> None:
    """With a CJK font the Chinese title spans more than a tenth of the slide's width."""
    layout = layout_slide(_slide(slide_type=slide_type), STYLE, AspectRatio.parse(ratio))
    assert layout.title.block.ink is not None
    assert layout.title.block.ink.width > layout.width * 0.1


def test_content_slide_shows_page_number_and_cover_does_not() -> None:
    """Content slides carry their page number; cover slides have none."""
    content = layout_slide(_slide(), STYLE, WIDE)
    assert content.page is not None
    assert [line.text for line in content.page.block.lines] == ["2"]
    assert layout_slide(_slide(slide_type=SlideType.COVER), STYLE, WIDE).page is None


def test_bullets_get_markers_and_numbers_get_labels() -> None:
    """'- x' lines draw a square marker; '1. x' lines draw their number."""
    layout = layout_slide(_slide(content="- one\n- two\n1. three"), STYLE, WIDE)
    assert len(layout.body.block.markers) == 2
    assert "1." in [line.text for line in layout.body.block.lines]
    assert "one" in [line.text for line in layout.body.block.lines]


def test_long_text_shrinks_before_it_is_cut() -> None:
    """More text gives a smaller font; only a huge body is truncated with an ellipsis."""
    short = layout_slide(_slide(content="- one point"), STYLE, WIDE).body.block
    medium = layout_slide(_slide(content="\n".join(["- a point"] * 12)), STYLE, WIDE).body.block
    huge = layout_slide(_slide(content="\n".join(["- a point"] * 300)), STYLE, WIDE).body.block
    assert short.size > medium.size >= huge.size
    assert not medium.truncated
    assert huge.truncated
    assert huge.lines[-1].text.endswith("…")


def test_cjk_wraps_per_character_and_latin_per_word() -> None:
    """A narrow box breaks Chinese between characters and English between words."""
    face = find_fonts().regular
    spec = FitSpec(max_size=20, min_size=20)
    chinese = fit_text(
        [Paragraph("数字化转型加速企业客户需求持续增长")], Box(0, 0, 100, 400), face, spec
    )
    assert len(chinese.lines) > 1
    assert "".join(line.text for line in chinese.lines) == "数字化转型加速企业客户需求持续增长"
    english = fit_text([Paragraph("alpha beta gamma delta")], Box(0, 0, 130, 400), face, spec)
    assert all(not line.text.startswith(" ") for line in english.lines)
    assert {w for line in english.lines for w in line.text.split()} == {
        "alpha",
        "beta",
        "gamma",
        "delta",
    }


def test_overlong_word_is_broken() -> None:
    """A word wider than the box is split across lines rather than overflowing."""
    face = find_fonts().regular
    block = fit_text(
        [Paragraph("x" * 80)], Box(0, 0, 120, 600), face, FitSpec(max_size=20, min_size=20)
    )
    assert len(block.lines) > 1
    assert block.ink is not None
    assert Box(0, 0, 120, 600).contains(block.ink)


def test_closing_punctuation_never_starts_a_line() -> None:
    """Chinese commas and full stops stay with the character before them."""
    face = find_fonts().regular
    block = fit_text(
        [Paragraph("一二三四五，六七八九十。" * 4)],
        Box(0, 0, 110, 800),
        face,
        FitSpec(max_size=20, min_size=20),
    )
    assert all(line.text[:1] not in "，。" for line in block.lines)


def test_markdown_emphasis_is_not_drawn() -> None:
    """'**bold**' draws as 'bold'."""
    assert paragraphs("**bold** `code`", bullets=True) == (Paragraph("bold code"),)


def test_a_cover_does_not_draw_list_markers() -> None:
    """A cover's '- ' lines draw as prose, without the literal marker."""
    cover = _slide("Plan", "- Engineering All-Hands\n* Q3 2025", SlideType.COVER)
    lines = [line.text for line in layout_slide(cover, "", WIDE, long_side=960).body.block.lines]
    assert lines == ["Engineering All-Hands", "Q3 2025"]
    assert paragraphs("• one\n2. two", bullets=False) == (Paragraph("one"), Paragraph("2. two"))


def test_placeholder_marker_is_drawn_and_named() -> None:
    """A placeholder carries a visible 'PLACEHOLDER — reason' band inside the canvas."""
    layout = layout_slide(_slide(), STYLE, WIDE, placeholder_reason="upstream timed out")
    assert layout.placeholder is not None
    text = " ".join(line.text for line in layout.placeholder.block.lines)
    assert text.startswith("PLACEHOLDER — upstream")
    _assert_inside(layout)
    plain = render_slide(_slide(), STYLE, WIDE, long_side=480)
    marked = render_slide(_slide(), STYLE, WIDE, long_side=480, placeholder_reason="x")
    assert plain != marked
    pixel = Image.open(io.BytesIO(marked)).convert("RGB").getpixel((2, 2))
    assert pixel == (0xFA, 0xCC, 0x15)


def test_renders_without_cjk_font() -> None:
    """With only Pillow's built-in font the slide still renders at the right size."""
    data = render_slide(_slide(), STYLE, WIDE, long_side=480, fonts=BUILTIN)
    assert Image.open(io.BytesIO(data)).size == (480, 270)


_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=200),
    st.sampled_from(["", " ", "😀🎉🚀" * 20, "Ünïcödé ñ", "مرحبا بالعالم", "x" * 500, "a\tb\x00c"]),
    st.lists(st.text(max_size=40), min_size=150, max_size=200).map(
        lambda lines: "\n".join(f"- {line}" for line in lines)
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=_TEXT,
    content=_TEXT,
    slide_type=st.sampled_from(list(SlideType)),
    ratio=st.sampled_from(["16:9", "9:16", "1:1", "21:9", "4:3", "1:4", "4:1"]),
    reason=st.none() | st.text(max_size=200),
)
def test_any_text_renders_inside_the_canvas(
    title: str, content: str, slide_type: SlideType, ratio: str, reason: str | None
) -> None:
    """Any title and content (empty, long, emoji, CJK, RTL, 200 bullets) stays in the canvas."""
    slide = Slide(id="p", page_num=1, type=slide_type, title=title, content_text=content)
    aspect = AspectRatio.parse(ratio)
    layout = layout_slide(slide, STYLE, aspect, long_side=480, placeholder_reason=reason)
    _assert_inside(layout)
    if title.strip() and any(c.isprintable() and not c.isspace() for c in title):
        assert layout.title.block.lines
    data = render_slide(slide, STYLE, aspect, long_side=480, placeholder_reason=reason)
    assert Image.open(io.BytesIO(data)).size == aspect.render_size(480)


@pytest.mark.parametrize("title", ["`", "**", "__", "``"])
def test_a_title_of_markup_characters_alone_is_drawn(title: str) -> None:
    """A title that is only emphasis markup is drawn as typed, not stripped to nothing."""
    slide = Slide(id="p", page_num=1, type=SlideType.COVER, title=title, content_text="")
    layout = layout_slide(slide, STYLE, AspectRatio.parse("16:9"), long_side=480)
    assert layout.title.block.lines
