"""A slide palette read from the style prompt: hex codes and colour words, English and Chinese.

Pure and deterministic. Colours are taken in the order the prompt names them; a colour
next to "background"/"背景"/"底" becomes the background, one next to "accent"/"点缀"/"强调"
the accent, one next to "text"/"文字"/"字" the text colour. Whatever the prompt says, every
text colour is checked against its background and replaced by a readable one (WCAG contrast
at least 4.5), so a prompt can change the look but never make the text illegible. On dark
pages a title taken from the primary reaches 7, so it is never dimmer than the body text.

Content slides use the background; cover and ending slides use the primary colour (darkened
just enough for white text when it is mid-tone), or the background when that is dark.
"""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass

RGB = tuple[int, int, int]

DEFAULT_PRIMARY: RGB = (0x1A, 0x36, 0x5D)  # deep blue: the business default
DEFAULT_ACCENT: RGB = (0xD4, 0xAF, 0x37)  # gold
INK: RGB = (0x1F, 0x29, 0x37)  # near-black for text on light backgrounds
PAPER: RGB = (0xF8, 0xFA, 0xFC)  # near-white for text on dark backgrounds
MIN_CONTRAST = 4.5
# Titles on dark pages: WCAG's enhanced level (AAA, 7:1). The primary lightened only to 4.5:1
# read as a dull grey beside near-white body text (12-17:1); on light pages the primary itself
# (or a shade of it at 4.5:1) already stands out, and deepening it further turns orange brown.
DARK_TITLE_CONTRAST = 7.0


@dataclass(frozen=True, slots=True)
class Palette:
    """Colours for every slide type; every ``*_text`` colour is readable on its background."""

    primary: RGB
    accent: RGB
    background: RGB  # content slides
    title_text: RGB
    body_text: RGB
    muted_text: RGB  # page numbers, footers
    cover_background: RGB  # cover and ending slides
    cover_text: RGB
    cover_muted: RGB
    cover_accent: RGB


# Named colours. Multi-word names come first so "deep blue" wins over "blue".
_NAMED: dict[str, RGB] = {
    "deep blue": (0x1A, 0x36, 0x5D),
    "dark blue": (0x1A, 0x36, 0x5D),
    "navy blue": (0x1E, 0x3A, 0x5F),
    "navy": (0x1E, 0x3A, 0x5F),
    "midnight blue": (0x19, 0x19, 0x70),
    "royal blue": (0x41, 0x69, 0xE1),
    "sky blue": (0x38, 0xBD, 0xF8),
    "light blue": (0x93, 0xC5, 0xFD),
    "dark green": (0x14, 0x53, 0x2D),
    "forest green": (0x22, 0x8B, 0x22),
    "dark red": (0x7F, 0x1D, 0x1D),
    "dark gray": (0x37, 0x41, 0x51),
    "dark grey": (0x37, 0x41, 0x51),
    "light gray": (0xE5, 0xE7, 0xEB),
    "light grey": (0xE5, 0xE7, 0xEB),
    "off-white": (0xF8, 0xF7, 0xF2),
    "off white": (0xF8, 0xF7, 0xF2),
    "blue": (0x25, 0x63, 0xEB),
    "teal": (0x0D, 0x94, 0x88),
    "cyan": (0x06, 0xB6, 0xD4),
    "turquoise": (0x14, 0xB8, 0xA6),
    "gold": DEFAULT_ACCENT,
    "golden": DEFAULT_ACCENT,
    "yellow": (0xEA, 0xB3, 0x08),
    "red": (0xDC, 0x26, 0x26),
    "crimson": (0xB9, 0x1C, 0x1C),
    "maroon": (0x7F, 0x1D, 0x1D),
    "burgundy": (0x80, 0x00, 0x20),
    "green": (0x16, 0xA3, 0x4A),
    "emerald": (0x05, 0x96, 0x69),
    "olive": (0x6B, 0x70, 0x22),
    "orange": (0xEA, 0x58, 0x0C),
    "purple": (0x7C, 0x3A, 0xED),
    "violet": (0x7C, 0x3A, 0xED),
    "magenta": (0xC0, 0x26, 0xD3),
    "pink": (0xEC, 0x48, 0x99),
    "black": (0x11, 0x11, 0x11),
    "charcoal": (0x2D, 0x33, 0x3A),
    "white": (0xFF, 0xFF, 0xFF),
    "gray": (0x6B, 0x72, 0x80),
    "grey": (0x6B, 0x72, 0x80),
    "silver": (0xC0, 0xC0, 0xC0),
    "brown": (0x78, 0x35, 0x0F),
    "beige": (0xF5, 0xF0, 0xE1),
    "cream": (0xFF, 0xFD, 0xD0),
    "深蓝": (0x1A, 0x36, 0x5D),
    "藏青": (0x1E, 0x3A, 0x5F),
    "海军蓝": (0x1E, 0x3A, 0x5F),
    "宝蓝": (0x41, 0x69, 0xE1),
    "天蓝": (0x38, 0xBD, 0xF8),
    "浅蓝": (0x93, 0xC5, 0xFD),
    "深绿": (0x14, 0x53, 0x2D),
    "墨绿": (0x14, 0x53, 0x2D),
    "深红": (0x7F, 0x1D, 0x1D),
    "酒红": (0x80, 0x00, 0x20),
    "深灰": (0x37, 0x41, 0x51),
    "浅灰": (0xE5, 0xE7, 0xEB),
    "米色": (0xF5, 0xF0, 0xE1),
    "米白": (0xF8, 0xF7, 0xF2),
    "香槟金": (0xF7, 0xE7, 0xCE),
    "玫瑰金": (0xB7, 0x6E, 0x79),
    "科技蓝": (0x25, 0x63, 0xEB),
    "中国红": (0xC8, 0x10, 0x2E),
}
# A single Chinese colour character is only a colour before 色/底/字/调 ("金色", "白底"):
# on its own it is too often part of another word (金融, 留白, 黑体, 蓝图, 粉丝).
_ZH_SINGLE: dict[str, RGB] = {
    "蓝": (0x25, 0x63, 0xEB),
    "红": (0xDC, 0x26, 0x26),
    "绿": (0x16, 0xA3, 0x4A),
    "黄": (0xEA, 0xB3, 0x08),
    "金": DEFAULT_ACCENT,
    "橙": (0xEA, 0x58, 0x0C),
    "橘": (0xEA, 0x58, 0x0C),
    "紫": (0x7C, 0x3A, 0xED),
    "粉": (0xEC, 0x48, 0x99),
    "青": (0x0D, 0x94, 0x88),
    "黑": (0x11, 0x11, 0x11),
    "白": (0xFF, 0xFF, 0xFF),
    "灰": (0x6B, 0x72, 0x80),
    "银": (0xC0, 0xC0, 0xC0),
    "棕": (0x78, 0x35, 0x0F),
}

_ascii_names = sorted((n for n in _NAMED if n.isascii()), key=len, reverse=True)
_zh_names = sorted((n for n in _NAMED if not n.isascii()), key=len, reverse=True)
_COLOUR = re.compile(
    r"(?P<hex>#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})(?![0-9a-fA-F]))"
    r"|(?<![A-Za-z])(?P<en>" + "|".join(re.escape(n) for n in _ascii_names) + r")"
    r"(?![A-Za-z])(?!\s*-?space)"
    r"|(?P<zh>" + "|".join(_zh_names) + ")"
    r"|(?P<zh1>[" + "".join(_ZH_SINGLE) + r"])(?=[色底字调])",
    re.IGNORECASE,
)
# The gap between a name and its hex code ("deep blue (#1A365D)"): one mention, hex wins.
_SAME_MENTION = re.compile(r"^[\s(（:：=]*$")
_CLAUSE_END = re.compile(r"[,;.，；。、\n]")

_ROLE_AFTER = {
    "background": re.compile(
        r"^\s*(?:色|colou?r)?\s*(?:的)?\s*(?:background|backdrop|bg\b|背景|底)"
    ),
    "accent": re.compile(r"^\s*(?:色|colou?r)?\s*(?:的)?\s*(?:accent|highlight|点缀|强调|辅助)"),
    "text": re.compile(r"^\s*(?:色|colou?r)?\s*(?:的)?\s*(?:text|font|title|文字|字|标题)"),
}
_ROLE_BEFORE = {
    "background": re.compile(
        r"(?:background|backdrop|背景|底色)\s*(?:colou?r|色)?\s*(?:is|of|in|:|：|=|为|是|用|使用)?"
        r"\s*(?:an?\s+)?$"
    ),
    "accent": re.compile(
        r"(?:accents?|highlights?|点缀|强调|辅助)\s*(?:colou?r|色)?\s*(?:is|of|in|:|：|=|为|是|用)?\s*$"
    ),
    "text": re.compile(
        r"(?:text|font|文字|字体)\s*(?:colou?r|色)?\s*(?:is|of|in|:|：|=|为|是|用)?\s*$"
    ),
}
_DARK_THEME = re.compile(r"\bdark\s+(?:theme|mode|background)\b|深色|暗色", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ColourMention:
    """One colour the prompt names, where, and the role the words around it give it."""

    start: int
    end: int
    rgb: RGB
    role: str | None = None


def parse_hex(text: str) -> RGB:
    """``#1A365D`` or ``#fa0`` to an RGB triple."""
    digits = text.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def colour_mentions(style_prompt: str) -> tuple[ColourMention, ...]:
    """Every colour ``style_prompt`` names, in order, with its role if the words give one."""
    raw: list[ColourMention] = []
    for match in _COLOUR.finditer(style_prompt):
        rgb = _rgb_of(match)
        previous = raw[-1] if raw else None
        is_hex = match.group("hex") is not None
        if (
            previous is not None
            and is_hex != _is_hex(style_prompt, previous)
            and _SAME_MENTION.match(style_prompt[previous.end : match.start()])
        ):
            raw[-1] = ColourMention(previous.start, match.end(), rgb if is_hex else previous.rgb)
            continue
        raw.append(ColourMention(match.start(), match.end(), rgb))
    mentions: list[ColourMention] = []
    for i, mention in enumerate(raw):
        before_from = raw[i - 1].end if i else 0
        after_to = raw[i + 1].start if i + 1 < len(raw) else len(style_prompt)
        before = _last_clause(style_prompt[before_from : mention.start])
        after = _first_clause(style_prompt[mention.end : after_to])
        role = next(
            (
                r
                for r in _ROLE_AFTER
                if _ROLE_AFTER[r].match(after) or _ROLE_BEFORE[r].search(before)
            ),
            None,
        )
        mentions.append(ColourMention(mention.start, mention.end, mention.rgb, role))
    return tuple(mentions)


def _is_hex(text: str, mention: ColourMention) -> bool:
    return "#" in text[mention.start : mention.end]


def _rgb_of(match: re.Match[str]) -> RGB:
    if match.group("hex"):
        return parse_hex(match.group("hex"))
    if match.group("en"):
        return _NAMED[match.group("en").lower()]
    if match.group("zh"):
        return _NAMED[match.group("zh")]
    return _ZH_SINGLE[match.group("zh1")]


def _first_clause(text: str) -> str:
    return _CLAUSE_END.split(text, maxsplit=1)[0]


def _last_clause(text: str) -> str:
    return _CLAUSE_END.split(text)[-1]


def palette_from_style(style_prompt: str) -> Palette:
    """The palette ``style_prompt`` asks for; deep blue and gold when it names no colour."""
    mentions = colour_mentions(style_prompt)
    by_role: dict[str, RGB] = {}
    free: list[RGB] = []
    for mention in mentions:
        if mention.role and mention.role not in by_role:
            by_role[mention.role] = mention.rgb
        else:
            free.append(mention.rgb)
    background = by_role.get("background")
    primary = free.pop(0) if free else None
    accent = by_role.get("accent") or (free.pop(0) if free else None)
    if primary is None:
        colourful = [c for c in (background, accent) if c is not None and _saturation(c) > 0.2]
        primary = colourful[0] if colourful else DEFAULT_PRIMARY
    if accent is None:
        accent = DEFAULT_ACCENT if primary == DEFAULT_PRIMARY else _complement(primary)
    if background is None:
        dark = _DARK_THEME.search(style_prompt) is not None
        background = mix(primary, (0, 0, 0), 0.55) if dark else mix(primary, (255, 255, 255), 0.96)
    cover_background = _cover_tone(primary)
    explicit = by_role.get("background")
    # A light background asked for is the page colour; the cover and ending keep a bold
    # primary block unless the prompt names no other colour, or asks for a dark background.
    if explicit is not None and (luminance(explicit) < 0.5 or primary == explicit):
        cover_background = explicit
    text = by_role.get("text")
    title_text = readable(background, text, *_title_shades(primary, background))
    body_text = readable(background, text if text != title_text else None)
    cover_text = readable(cover_background, text)
    return Palette(
        primary=primary,
        accent=visible(accent, background, primary),
        background=background,
        title_text=title_text,
        body_text=body_text,
        muted_text=muted(body_text, background),
        cover_background=cover_background,
        cover_text=cover_text,
        cover_muted=muted(cover_text, cover_background, amount=0.2),
        cover_accent=visible(accent, cover_background, cover_text),
    )


# --- colour arithmetic --------------------------------------------------------------------


def mix(a: RGB, b: RGB, amount: float) -> RGB:
    """``a`` moved ``amount`` (0..1) of the way to ``b``."""
    return (
        round(a[0] + (b[0] - a[0]) * amount),
        round(a[1] + (b[1] - a[1]) * amount),
        round(a[2] + (b[2] - a[2]) * amount),
    )


def luminance(rgb: RGB) -> float:
    """WCAG relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio, 1..21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable(background: RGB, *preferred: RGB | None) -> RGB:
    """The first preferred colour readable on ``background``, else near-black or near-white."""
    for colour in preferred:
        if colour is not None and contrast(colour, background) >= MIN_CONTRAST:
            return colour
    for colour in (INK, PAPER) if luminance(background) > 0.18 else (PAPER, INK):
        if contrast(colour, background) >= MIN_CONTRAST:
            return colour
    # Mid-grey backgrounds: pure black or white always reaches at least 4.58.
    black, white = (0, 0, 0), (255, 255, 255)
    return black if contrast(black, background) >= contrast(white, background) else white


def _title_shades(primary: RGB, background: RGB) -> tuple[RGB | None, RGB]:
    """The title colours to try in order: the primary, then a shade of it readable on
    ``background`` (both held to :data:`DARK_TITLE_CONTRAST` on dark pages)."""
    minimum = DARK_TITLE_CONTRAST if luminance(background) <= 0.18 else MIN_CONTRAST
    as_is = primary if contrast(primary, background) >= minimum else None
    return as_is, deepen(primary, background, minimum)


def deepen(colour: RGB, background: RGB, minimum: float = MIN_CONTRAST) -> RGB:
    """``colour`` moved toward black (light background) or white (dark) until its contrast
    with ``background`` reaches ``minimum`` (a WCAG ratio, 1..21), in tenth steps."""
    target = (0, 0, 0) if luminance(background) > 0.18 else (255, 255, 255)
    for step in range(1, 11):
        candidate = mix(colour, target, step / 10)
        if contrast(candidate, background) >= minimum:
            return candidate
    return target


def _cover_tone(primary: RGB) -> RGB:
    """The cover's background: the primary, darkened just enough for white text if mid-tone.

    Light primaries (yellow, beige) stay as they are and get dark text instead.
    """
    if contrast(PAPER, primary) >= MIN_CONTRAST or luminance(primary) > 0.4:
        return primary
    return deepen(primary, PAPER)


def muted(text: RGB, background: RGB, amount: float = 0.3) -> RGB:
    """``text`` softened toward the background, as far as it stays readable."""
    while amount > 0:
        candidate = mix(text, background, amount)
        if contrast(candidate, background) >= MIN_CONTRAST:
            return candidate
        amount = round(amount - 0.05, 2)
    return text


def visible(colour: RGB, background: RGB, fallback: RGB) -> RGB:
    """``colour`` for decoration unless it vanishes into the background."""
    return colour if contrast(colour, background) >= 1.6 else fallback


def _saturation(rgb: RGB) -> float:
    return colorsys.rgb_to_hls(*(v / 255 for v in rgb))[2]


def _complement(rgb: RGB) -> RGB:
    """A warm or cool partner for ``rgb``: hue turned 150 degrees, kept vivid."""
    hue, _light, _sat = colorsys.rgb_to_hls(*(v / 255 for v in rgb))
    r, g, b = colorsys.hls_to_rgb((hue + 150 / 360) % 1.0, 0.55, 0.7)
    return (round(r * 255), round(g * 255), round(b * 255))


def hex_of(rgb: RGB) -> str:
    """``(26, 54, 93)`` to ``#1A365D``."""
    return "#{:02X}{:02X}{:02X}".format(*rgb)
