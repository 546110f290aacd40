"""What a reader of the slide will not see as written: cut text and glyphs no font has.

Each becomes a warning carried with the image (``ImageResult.warnings``) into the status,
the events and the manifest.
"""

from __future__ import annotations

import re

from slidebatch.render.fonts import FontSet
from slidebatch.render.glyphs import missing
from slidebatch.render.scene import SlideLayout

_CJK = re.compile(
    r"[\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]"
)
_ARABIC = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_EMOJI = re.compile(r"[\U0001f000-\U0001faff\u2600-\u27bf]")
_HINTS = (
    (_CJK, "fonts-noto-cjk"),
    (_EMOJI, "fonts-noto-color-emoji"),
    (_ARABIC, "fonts-noto-core"),
)
_MAX_SHOWN = 8


def needs_cjk(text: str) -> bool:
    """Whether ``text`` has Chinese, Japanese or Korean characters."""
    return _CJK.search(text) is not None


def slide_warnings(layout: SlideLayout, fonts: FontSet) -> tuple[str, ...]:
    """Warnings for ``layout``: every text block cut to fit, and characters drawn as boxes."""
    warnings: list[str] = []
    hidden = sum(text.block.hidden_lines for text in layout.texts if text.block.truncated)
    if any(text.block.truncated for text in layout.texts):
        warnings.append(f"text cut to fit: {hidden} line(s) not shown, ending with '…'")
    lost: dict[str, None] = {}
    for text in layout.texts:
        for line in text.block.lines:
            for char in missing(line.text, text.block.face):
                lost[char] = None
    if lost:
        shown = " ".join(f"{c} (U+{ord(c):04X})" for c in list(lost)[:_MAX_SHOWN])
        more = f" and {len(lost) - _MAX_SHOWN} more" if len(lost) > _MAX_SHOWN else ""
        chars = "".join(lost)
        hints = sorted({package for pattern, package in _HINTS if pattern.search(chars)})
        hint = f"; install {', '.join(hints)}" if hints else ""
        warnings.append(f"no installed font has glyphs for {shown}{more}: drawn as boxes{hint}")
    return tuple(warnings)
