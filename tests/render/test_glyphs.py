"""Every glyph drawn: per-character font fallback, shaping, and warnings for what cannot be."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image, ImageFont, features

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.providers.base import ImageRequest
from slidebatch.providers.local import LocalRenderer
from slidebatch.render import draw_slide
from slidebatch.render.fonts import BUILTIN, FontFace, find_fonts, load_face
from slidebatch.render.glyphs import load_font, missing
from slidebatch.render.layout import layout_slide
from slidebatch.testing.memory_log import MemoryLog

WIDE = AspectRatio(16, 9)
CHINESE = "市场机遇与挑战：数字化转型加速，新兴市场带来增量空间。"
EMOJI = "Launch 🚀 party 🎉 thumbs 👍🏽 family 👨‍👩‍👧 flag 🇯🇵 ✅"
ARABIC = "مرحبا بالعالم، هذه شريحة عن النمو"


def _face_named(name: str) -> FontFace | None:
    fonts = find_fonts()
    for face in (fonts.regular, *fonts.regular.fallbacks):
        if face.path is not None and Path(face.path).name == name:
            return face
    return None


def _needs(name: str, package: str) -> FontFace:
    face = _face_named(name)
    if face is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install {package})")
    return face


def _slide(title: str, content: str = "") -> Slide:
    return Slide("g", 2, SlideType.CONTENT, title, content, "a globe")


@pytest.mark.parametrize(
    ("text", "font", "package"),
    [
        (CHINESE, "NotoSansCJK-Regular.ttc", "fonts-noto-cjk"),
        (EMOJI, "NotoColorEmoji.ttf", "fonts-noto-color-emoji"),
        (ARABIC, "NotoNaskhArabic-Regular.ttf", "fonts-noto-core"),
    ],
    ids=["chinese", "emoji", "arabic"],
)
def test_installed_fonts_cover_every_glyph(text: str, font: str, package: str) -> None:
    """With the Noto fonts installed no character of Chinese, emoji or Arabic text is tofu."""
    _needs(font, package)
    assert missing(text, find_fonts().regular) == ""
    assert missing(text, find_fonts().bold) == ""
    drawn = draw_slide(_slide(text[:20], f"- {text}\n- {text}"), "", WIDE, long_side=960)
    assert drawn.warnings == ()


def test_each_character_is_drawn_by_a_face_that_has_it() -> None:
    """A mixed line is cut into runs, each run in a face whose cmap has its characters."""
    _needs("NotoColorEmoji.ttf", "fonts-noto-color-emoji")
    _needs("NotoNaskhArabic-Regular.ttf", "fonts-noto-core")
    font = load_font(find_fonts().regular, 40)
    runs = font.runs(f"Plan 计划 {EMOJI} {ARABIC}")
    names = [Path(face.path or "").name for face, _text in runs]
    assert "NotoColorEmoji.ttf" in names
    assert "NotoNaskhArabic-Regular.ttf" in names
    assert "".join(text for _face, text in runs) == f"Plan 计划 {EMOJI} {ARABIC}"


def test_arabic_is_shaped_right_to_left() -> None:
    """Arabic runs go through raqm: joined letters are narrower than isolated ones."""
    face = _needs("NotoNaskhArabic-Regular.ttf", "fonts-noto-core")
    if not features.check("raqm"):
        pytest.skip("Pillow was built without raqm (libraqm0 missing)")
    shaped = load_face(face, 48)
    assert isinstance(shaped, ImageFont.FreeTypeFont)
    assert shaped.layout_engine == ImageFont.Layout.RAQM
    basic = ImageFont.truetype(face.path or "", 48, layout_engine=ImageFont.Layout.BASIC)
    word = "بالعالم"
    assert shaped.getlength(word) != basic.getlength(word)


def test_spaces_beside_hebrew_stay_in_reading_order() -> None:
    """A space after a Hebrew word in an English line is drawn after it, not inside its RTL run."""
    _needs("NotoSansHebrew-Regular.ttf", "fonts-noto-core")
    line = "Second item with עברית inline"
    runs = load_font(find_fonts().regular, 40).runs(line)
    hebrew = [text for face, text in runs if "Hebrew" in (face.path or "")]
    assert hebrew == ["עברית"]
    assert "".join(text for _face, text in runs) == line


def test_emoji_are_drawn_in_colour() -> None:
    """An emoji-only title puts saturated colour on the slide, not a monochrome outline."""
    _needs("NotoColorEmoji.ttf", "fonts-noto-color-emoji")
    data = draw_slide(Slide("e", 2, SlideType.CONTENT, "😀😀😀", ""), "", WIDE, long_side=960).png
    image = Image.open(io.BytesIO(data)).convert("RGB").crop((0, 0, 960, 200))
    raw = image.tobytes()
    pixels = zip(raw[0::3], raw[1::3], raw[2::3], strict=True)
    yellow = sum(1 for r, g, b in pixels if r > 200 and g > 150 and b < 90)
    assert yellow > 200


def test_missing_glyphs_are_reported_with_what_to_install() -> None:
    """A character no installed font has is named in a warning, not silently drawn as a box."""
    drawn = draw_slide(_slide("Hieroglyph \U00013000"), "", WIDE, long_side=480)
    [warning] = drawn.warnings
    assert "U+13000" in warning


def test_newer_emoji_are_drawn_and_private_use_characters_reported() -> None:
    """Emoji newer than Python's Unicode tables are drawn; a private-use character is reported."""
    _needs("NotoColorEmoji.ttf", "fonts-noto-color-emoji")
    title = "Geese \U0001fabf and \U0001fae8 here \ue000"
    layout = layout_slide(_slide(title), "", WIDE, long_side=960)
    drawn = "".join(line.text for line in layout.title.block.lines)
    assert all(char in drawn for char in "\U0001fabf\U0001fae8\ue000")
    runs = load_font(find_fonts().bold, 40).runs(title)
    emoji = [text for face, text in runs if face.is_emoji]
    assert emoji == ["\U0001fabf", "\U0001fae8"]
    [warning] = layout.warnings
    assert "U+E000" in warning
    assert "U+1FAE8" not in warning


def test_without_a_cjk_font_chinese_is_reported() -> None:
    """With Latin fonts only, Chinese text gives a warning that names fonts-noto-cjk."""
    latin = FontFace(None)
    fonts = find_fonts()
    bare = type(fonts)(regular=latin, bold=latin, has_cjk=False)
    drawn = draw_slide(_slide(CHINESE), "", WIDE, long_side=480, fonts=bare)
    assert any("fonts-noto-cjk" in w for w in drawn.warnings)
    english = draw_slide(_slide("Plain English"), "", WIDE, long_side=480, fonts=bare)
    assert english.warnings == ()


def test_cut_text_is_reported() -> None:
    """Text too long for the slide is cut with '…' and the cut is a warning."""
    long = "\n".join(f"- point {i} " + "with many words " * 12 for i in range(60))
    drawn = draw_slide(_slide("Too much", long), "", WIDE, long_side=960)
    assert any("cut to fit" in w for w in drawn.warnings)
    fits = draw_slide(_slide("Enough", "- one\n- two"), "", WIDE, long_side=960)
    assert fits.warnings == ()


def test_english_deck_without_cjk_font_logs_nothing() -> None:
    """The renderer's 'no CJK font' warning is only for slides with CJK text."""
    log = MemoryLog()
    renderer = LocalRenderer(long_side=320, fonts=BUILTIN, log=log)
    request = ImageRequest("p", _slide("Quarterly plan", "- grow"), "", WIDE)
    asyncio.run(renderer.generate(request))
    assert not log.events
