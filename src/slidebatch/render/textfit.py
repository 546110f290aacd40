"""Wrap and shrink text into a box so that nothing overflows and nothing is cut.

CJK text wraps per character (closing punctuation never starts a line), Latin per word,
and a word longer than the line is broken. The fitter picks the largest size whose wrapped
text fits; only at the minimum size does it drop lines, ending the last kept line with "…".
The final answer is verified against the real ink boxes of the drawn lines, so the
geometry tests can trust ``TextBlock.ink``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from slidebatch.render.fonts import FontFace
from slidebatch.render.glyphs import ChainFont, load_font

Font = ChainFont
FontLoader = Callable[[FontFace, int], Font]

ELLIPSIS = "…"
_REFERENCE_SIZE = 100  # token widths are measured once at this size and scaled
_CJK = (
    r"\u2e80-\u2fff\u3000-\u30ff\u3100-\u31ff\u3200-\u9fff\ua960-\ua97f"
    r"\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff"
)
_NO_LINE_START = "，。、；：！？）》」』】〉’”,.;:!?)]}%…"
_TOKEN = re.compile(
    rf"[{_CJK}][{re.escape(_NO_LINE_START)}]*|[^\s{_CJK}]+[{re.escape(_NO_LINE_START)}]*\s*|\s+"
)
_BULLET = re.compile(r"^(\s*)(?:([-*+•·▪●◦‣])|(\d{1,3}[.)、]))\s+(.*)$")
_EMPHASIS = re.compile(r"\*\*|__|`")


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


class VAlign(StrEnum):
    TOP = "top"
    MIDDLE = "middle"


@dataclass(frozen=True, slots=True)
class Box:
    """A pixel rectangle, ``x1``/``y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return max(0, self.x1 - self.x0)

    @property
    def height(self) -> int:
        return max(0, self.y1 - self.y0)

    def contains(self, other: Box) -> bool:
        return (
            self.x0 <= other.x0
            and self.y0 <= other.y0
            and other.x1 <= self.x1
            and other.y1 <= self.y1
        )

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One logical line of input: plain text, a bullet, or a numbered item."""

    text: str
    label: str | None = None  # "•" for bullets, "3." for numbered items
    level: int = 0


@dataclass(frozen=True, slots=True)
class PlacedLine:
    """A line of text drawn with its baseline-left at (x, y); ``ink`` is where pixels land."""

    text: str
    x: int
    y: int
    ink: Box


@dataclass(frozen=True, slots=True)
class TextBlock:
    """Fitted text: the box it was given, its lines, bullet markers and font size."""

    box: Box
    lines: tuple[PlacedLine, ...]
    markers: tuple[Box, ...]
    size: int
    face: FontFace
    truncated: bool = False
    hidden_lines: int = 0  # wrapped lines left out when the text had to be cut

    @property
    def ink(self) -> Box | None:
        """Union of every line's ink and every marker, or None for an empty block."""
        boxes = [line.ink for line in self.lines if line.ink.width and line.ink.height]
        boxes += list(self.markers)
        if not boxes:
            return None
        result = boxes[0]
        for box in boxes[1:]:
            result = result.union(box)
        return result


@dataclass(frozen=True, slots=True)
class FitSpec:
    """How to fit: sizes, spacing, alignment."""

    max_size: int
    min_size: int
    line_spacing: float = 1.3
    paragraph_gap: float = 0.45  # extra space between paragraphs, in line heights
    align: Align = Align.LEFT
    valign: VAlign = VAlign.TOP


def clean_text(text: str) -> str:
    """Drop control characters and stacks of combining marks that no slide needs.

    Private-use and (to this Python's Unicode tables) unassigned characters are kept: newer
    emoji look unassigned to an older ``unicodedata``, and whether a font draws a character
    is the font's cmap to say; a character no font has is reported, never silently dropped.
    """
    out: list[str] = []
    combining = 0
    for char in text.replace("\r\n", "\n").replace("\t", "    "):
        category = unicodedata.category(char)
        if char != "\n" and category in ("Cc", "Cs"):
            continue
        if category.startswith("M"):
            combining += 1
            if combining > 2:
                continue
        else:
            combining = 0
        out.append(char)
    return "".join(out)


def paragraphs(text: str, *, bullets: bool) -> tuple[Paragraph, ...]:
    """Split ``text`` into lines; with ``bullets``, Markdown-style list items become items.

    Without ``bullets`` the text is prose (a cover's subtitle, a quote): a line's "- " or "• "
    marker is dropped rather than drawn as a character; numbered lines keep their number.
    """
    result: list[Paragraph] = []
    for raw in clean_text(text).split("\n"):
        line = _EMPHASIS.sub("", raw).rstrip()
        if not line.strip():
            # Markup and nothing else ("`", "**") is the text itself, not emphasis.
            line = raw.rstrip()
        match = _BULLET.match(line)
        if match and bullets:
            indent, _mark, number, body = match.groups()
            label = number if number else "•"
            result.append(Paragraph(body.strip(), label, min(2, len(indent) // 2)))
        elif match and match.group(2):
            result.append(Paragraph(match.group(4).strip()))
        elif line.strip() or result:
            result.append(Paragraph(line.strip()))
    while result and not result[-1].text and result[-1].label is None:
        result.pop()
    return tuple(result)


def fit_text(
    items: Sequence[Paragraph],
    box: Box,
    face: FontFace,
    spec: FitSpec,
    *,
    loader: FontLoader = load_font,
) -> TextBlock:
    """The largest size at which ``items`` fit ``box``; below ``min_size`` lines are dropped."""
    empty = TextBlock(box, (), (), spec.min_size, face)
    if not any(item.text or item.label for item in items) or box.width < 4 or box.height < 4:
        return empty
    widths = _TokenWidths(loader(face, _REFERENCE_SIZE))
    low, high = max(1, spec.min_size), max(1, spec.min_size, spec.max_size)
    # Binary search on the cheap estimate; the exact check below corrects the rare misses.
    while low < high:
        mid = (low + high + 1) // 2
        if _estimate_height(items, box.width, mid, spec, widths) <= box.height:
            low = mid
        else:
            high = mid - 1
    for size in range(low, max(1, spec.min_size) - 1, -1):
        block = _place(items, box, face, size, spec, widths, loader)
        if block is not None:
            return block
    return _place_truncated(items, box, face, max(1, spec.min_size), spec, widths, loader) or empty


def _place_truncated(
    items: Sequence[Paragraph],
    box: Box,
    face: FontFace,
    size: int,
    spec: FitSpec,
    widths: _TokenWidths,
    loader: FontLoader,
) -> TextBlock | None:
    """The last resort: as many lines as fit at ``size``, the last ending with "…"."""
    total = len(_layout_lines(items, box.width, size, widths))
    line_height = size * spec.line_spacing
    keep = max(1, min(total - 1, int((box.height - size * 1.25) // line_height) + 1))
    for count in range(keep, 0, -1):
        block = _place(items, box, face, size, spec, widths, loader, max_lines=count)
        if block is not None:
            return block
    return None


class _TokenWidths:
    """Advance widths at the reference size, cached per token."""

    def __init__(self, font: Font) -> None:
        self._font = font
        self._cache: dict[str, float] = {}

    def __call__(self, token: str, size: int) -> float:
        width = self._cache.get(token)
        if width is None:
            width = float(self._font.getlength(token))
            self._cache[token] = width
        return width * size / _REFERENCE_SIZE


def _indent(item: Paragraph, size: int) -> int:
    if item.label is None:
        return 0
    return round(size * (1.3 + 1.2 * item.level)) + (
        round(size * 0.6) if len(item.label) > 2 else 0
    )


def _wrap(text: str, width: float, size: int, widths: Callable[[str, int], float]) -> list[str]:
    """Greedy line breaking on tokens; tokens wider than the line are broken per character."""
    if not text:
        return [""]
    lines: list[str] = []
    current, current_width = "", 0.0
    for token in _TOKEN.findall(text):
        token_width = widths(token, size)
        if current and current_width + widths(token.rstrip(), size) > width:
            lines.append(current.rstrip())
            current, current_width = "", 0.0
            if token.isspace():
                continue
        if not current and token_width > width and len(token) > 1:
            for char in token:
                char_width = widths(char, size)
                if current and current_width + char_width > width:
                    lines.append(current.rstrip())
                    current, current_width = "", 0.0
                current += char
                current_width += char_width
            continue
        current += token
        current_width += token_width
    lines.append(current.rstrip())
    return lines


def _layout_lines(
    items: Sequence[Paragraph],
    width: int,
    size: int,
    widths: Callable[[str, int], float],
) -> list[tuple[Paragraph, int, str]]:
    """(item, indent, line text) per line; the first line of an item carries its label."""
    lines: list[tuple[Paragraph, int, str]] = []
    slack = 0.985  # token sums ignore kerning; leave a hair of room
    for item in items:
        indent = _indent(item, size)
        for text in _wrap(item.text, (width - indent) * slack, size, widths):
            lines.append((item, indent, text))
    return lines


def _estimate_height(
    items: Sequence[Paragraph],
    width: int,
    size: int,
    spec: FitSpec,
    widths: Callable[[str, int], float],
) -> float:
    for item in items:
        room = (width - _indent(item, size)) * 0.985
        # A size that would break a word in the middle is too large (unless nothing else fits).
        if any(widths(token.rstrip(), size) > room for token in _TOKEN.findall(item.text)):
            return math.inf
    count = len(_layout_lines(items, width, size, widths))
    gaps = max(0, len(items) - 1) * spec.paragraph_gap
    return (count - 1 + gaps) * size * spec.line_spacing + size * 1.25


def _place(
    items: Sequence[Paragraph],
    box: Box,
    face: FontFace,
    size: int,
    spec: FitSpec,
    widths: _TokenWidths,
    loader: FontLoader,
    *,
    max_lines: int | None = None,
) -> TextBlock | None:
    """Lines at ``size`` positioned in ``box``, or None if their real ink does not fit.

    With ``max_lines``, only that many lines are kept and the last one ends with "…".
    """
    font = loader(face, size)
    line_height = size * spec.line_spacing
    gap = line_height * spec.paragraph_gap
    rows = _layout_lines(items, box.width, size, widths)
    total_rows = len(rows)
    if max_lines is not None and max_lines < len(rows):
        rows = rows[:max_lines]
        item, indent, text = rows[-1]
        rows[-1] = (item, indent, _with_ellipsis(font, text, box.width - indent))
    local, markers = _local_lines(rows, font, size, line_height, gap)
    inks = [ink for _text, _x, _y, ink in local if ink.width and ink.height] + markers
    if not inks:
        return None
    top = min(b.y0 for b in inks)
    bottom = max(b.y1 for b in inks)
    if bottom - top > box.height:
        return None
    dy = box.y0 - top
    if spec.valign is VAlign.MIDDLE:
        dy += (box.height - (bottom - top)) // 2
    lines: list[PlacedLine] = []
    for text, x, y, ink in local:
        dx = _dx(ink, box, spec.align)
        if dx is None:
            return None
        lines.append(PlacedLine(text, x + dx, y + dy, _shift(ink, dx, dy)))
    block = TextBlock(
        box,
        tuple(lines),
        tuple(_shift(m, box.x0, dy) for m in markers),
        size,
        face,
        truncated=max_lines is not None,
        hidden_lines=total_rows - len(rows),
    )
    ink_all = block.ink
    return block if ink_all is not None and box.contains(ink_all) else None


def _local_lines(
    rows: Sequence[tuple[Paragraph, int, str]],
    font: Font,
    size: int,
    line_height: float,
    gap: float,
) -> tuple[list[tuple[str, int, int, Box]], list[Box]]:
    """``rows`` laid out in local coordinates (x from the box's left, first baseline at 0).

    Returns ``(text, x, baseline y, ink)`` per line and label, and the bullet markers' boxes.
    """
    local: list[tuple[str, int, int, Box]] = []
    markers: list[Box] = []
    baseline = 0.0
    previous: Paragraph | None = None
    for item, indent, text in rows:
        first = item is not previous
        if previous is not None:
            baseline += line_height + (gap if first else 0.0)
        y = round(baseline)
        local.append((text, indent, y, _ink(font, text, indent, y)))
        if first and item.label == "•":
            markers.append(_marker(item, indent, y, size))
        elif first and item.label is not None:
            label_x = indent - round(size * (1.3 if len(item.label) <= 2 else 1.9))
            local.append((item.label, label_x, y, _ink(font, item.label, label_x, y)))
        previous = item
    return local, markers


def _dx(ink: Box, box: Box, align: Align) -> int | None:
    """Horizontal offset placing a line's ink inside ``box``; None when it cannot fit."""
    if ink.width == 0:
        return box.x0
    if ink.width > box.width:
        return None
    if align is Align.CENTER:
        dx = box.x0 + (box.width - ink.width) // 2 - ink.x0
    elif align is Align.RIGHT:
        dx = box.x1 - ink.x1
    else:
        dx = box.x0
    # Glyphs with negative side bearings would poke out of the box: nudge them in.
    if ink.x0 + dx < box.x0:
        dx = box.x0 - ink.x0
    if ink.x1 + dx > box.x1:
        dx = box.x1 - ink.x1
    return dx


def _ink(font: Font, text: str, x: int, baseline: int) -> Box:
    if not text.strip():
        return Box(x, baseline, x, baseline)
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    return Box(
        x + math.floor(left),
        baseline + math.floor(top),
        x + math.ceil(right),
        baseline + math.ceil(bottom),
    )


def _shift(box: Box, dx: int, dy: int) -> Box:
    return Box(box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy)


def _marker(item: Paragraph, indent: int, baseline: int, size: int) -> Box:
    """A square bullet centred on the x-height of the item's first line."""
    side = max(2, round(size * (0.3 if item.level == 0 else 0.22)))
    x = indent - round(size * 0.95)
    centre = baseline - round(size * 0.36)
    return Box(x, centre - side // 2, x + side, centre - side // 2 + side)


def _with_ellipsis(font: Font, text: str, room: int) -> str:
    while text and font.getlength(text + ELLIPSIS) > room:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS
