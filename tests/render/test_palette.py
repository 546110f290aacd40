"""The palette read from a style prompt: colours found, roles given, text always readable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slidebatch.render.palette import (
    DEFAULT_ACCENT,
    DEFAULT_PRIMARY,
    MIN_CONTRAST,
    Palette,
    colour_mentions,
    contrast,
    hex_of,
    luminance,
    palette_from_style,
    parse_hex,
)


def _text_pairs(palette: Palette) -> list[tuple[str, float]]:
    return [
        ("title", contrast(palette.title_text, palette.background)),
        ("body", contrast(palette.body_text, palette.background)),
        ("muted", contrast(palette.muted_text, palette.background)),
        ("cover", contrast(palette.cover_text, palette.cover_background)),
        ("cover_muted", contrast(palette.cover_muted, palette.cover_background)),
    ]


def test_no_colour_gives_deep_blue_and_gold_on_light_pages() -> None:
    """A prompt without colours gets the business default."""
    palette = palette_from_style("clean and professional")
    assert (palette.primary, palette.accent) == (DEFAULT_PRIMARY, DEFAULT_ACCENT)
    assert palette.cover_background == DEFAULT_PRIMARY
    assert contrast(palette.background, (255, 255, 255)) < 1.1


def test_hex_codes_in_order_become_primary_and_accent() -> None:
    """The first hex code is the primary, the second the accent."""
    palette = palette_from_style("use #0F766E and #F59E0B")
    assert hex_of(palette.primary) == "#0F766E"
    assert hex_of(palette.accent) == "#F59E0B"


def test_short_hex_is_expanded() -> None:
    """#fa0 means #FFAA00."""
    assert parse_hex("#fa0") == (0xFF, 0xAA, 0x00)


def test_name_followed_by_hex_is_one_colour_and_hex_wins() -> None:
    """'deep blue (#102030)' is one mention with the hex value."""
    mentions = colour_mentions("deep blue (#102030) and gold")
    assert [hex_of(m.rgb) for m in mentions] == ["#102030", "#D4AF37"]


@pytest.mark.parametrize(
    ("prompt", "primary"),
    [
        ("深蓝色调", "#1A365D"),
        ("navy", "#1E3A5F"),
        ("红色主题", "#DC2626"),
        ("绿色", "#16A34A"),
        ("金色", "#D4AF37"),
        ("orange", "#EA580C"),
        ("purple", "#7C3AED"),
        ("Deep Blue", "#1A365D"),
        ("deep blue背景", "#1A365D"),
    ],
)
def test_colour_words_in_english_and_chinese(prompt: str, primary: str) -> None:
    """Colour words of both languages are recognised, case-insensitively."""
    assert hex_of(palette_from_style(prompt).primary) == primary


@pytest.mark.parametrize(
    "prompt", ["金融科技", "留白充足", "黑体字体", "蓝图规划", "lots of white space"]
)
def test_words_that_only_contain_colour_characters_are_not_colours(prompt: str) -> None:
    """金融 is finance and 留白 is whitespace, not gold and white."""
    assert colour_mentions(prompt) == ()


def test_background_and_accent_roles() -> None:
    """'X background' and 'Y accents' set those roles regardless of order."""
    palette = palette_from_style("gold accents on a dark green background")
    assert palette.background == (0x14, 0x53, 0x2D)
    assert palette.accent == DEFAULT_ACCENT
    assert palette.cover_background == palette.background


def test_chinese_roles() -> None:
    """白底 sets a white page; 金色点缀 sets the accent; the cover keeps the bold primary."""
    palette = palette_from_style("白底，深蓝 #1A365D 为主色，金色点缀")
    assert palette.background == (255, 255, 255)
    assert palette.accent == DEFAULT_ACCENT
    assert palette.cover_background == DEFAULT_PRIMARY


def test_dark_theme_darkens_pages() -> None:
    """'dark theme' without a background colour gives dark content pages with light text."""
    palette = palette_from_style("dark theme, teal")
    assert contrast(palette.background, (0, 0, 0)) < 3
    assert contrast(palette.body_text, (255, 255, 255)) < 1.2


@pytest.mark.parametrize(
    "prompt",
    [
        "dark theme",
        "dark theme, blue",
        "dark mode, teal and orange",
        "dark background, purple accents",
        "深色 科技蓝",
        "black background, gold accents",
    ],
)
def test_titles_on_dark_pages_reach_aaa_contrast(prompt: str) -> None:
    """On a dark page the title (from the primary) reaches 7:1 and keeps the primary's hue.

    At 4.5:1 these titles were a dull grey-blue beside near-white body text at 12-17:1.
    """
    palette = palette_from_style(prompt)
    assert luminance(palette.background) <= 0.18
    assert contrast(palette.title_text, palette.background) >= 7.0
    assert palette.title_text not in {(0xF8, 0xFA, 0xFC), (255, 255, 255)}


def test_an_orange_title_on_a_light_page_stays_orange() -> None:
    """On light pages the title only needs 4.5:1: the shade stays orange, not brown."""
    palette = palette_from_style("orange")
    red, green, blue = palette.title_text
    assert contrast(palette.title_text, palette.background) >= MIN_CONTRAST
    assert red > 160
    assert red > 2 * green
    assert blue < 40


@pytest.mark.parametrize(
    "prompt",
    ["yellow background, white text", "#777777 background", "白色文字，白色背景", "silver", ""],
)
def test_text_stays_readable_whatever_the_prompt(prompt: str) -> None:
    """Every text colour reaches WCAG 4.5:1 on its background, even when asked otherwise."""
    for name, ratio in _text_pairs(palette_from_style(prompt)):
        assert ratio >= MIN_CONTRAST, name


@settings(max_examples=60, deadline=None)
@given(
    st.text(max_size=80)
    | st.lists(
        st.sampled_from(
            [
                "#1a365d",
                "gold",
                "白色",
                "背景",
                "accent ",
                "text ",
                "深蓝",
                "red",
                "#ffffff",
                "background ",
                "黄色",
            ]
        ),
        max_size=8,
    ).map(" ".join)
)
def test_any_prompt_gives_a_readable_palette(prompt: str) -> None:
    """For any prompt the palette is built and all text is readable."""
    for name, ratio in _text_pairs(palette_from_style(prompt)):
        assert ratio >= MIN_CONTRAST, name


def test_same_prompt_same_palette() -> None:
    """The palette is a pure function of the prompt."""
    prompt = "商务风格，深蓝 #1A365D，金色 #D4AF37"
    assert palette_from_style(prompt) == palette_from_style(prompt)
