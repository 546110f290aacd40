"""Text in a face and its fallbacks: each character is drawn by the first face that has it.

A line is cut into runs of one face each; runs are measured and drawn one after the other on
a shared baseline. Fallback faces for scripts that need shaping (Arabic, Hebrew, Indic) are
laid out by raqm, so a run of Arabic is joined and ordered right to left. Colour emoji come
from a bitmap strike scaled to the text size. Characters no installed face has are reported
by :func:`missing`, never silently drawn as boxes.
"""

from __future__ import annotations

import functools
import unicodedata

from PIL import Image, ImageDraw, ImageFont

from slidebatch.render.fonts import EMOJI_STRIKE, FontFace, coverage, load_face

Run = tuple[FontFace, str]
BBox = tuple[float, float, float, float]


def _attaches(char: str) -> bool:
    """Marks, joiners, variation selectors and skin tones belong to the character before."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me", "Cf")
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _neutral(char: str) -> bool:
    return char.isspace() or (unicodedata.category(char)[0] in "PNZS" and ord(char) < 0x2000)


def _ignorable(char: str) -> bool:
    # Private-use and unassigned-to-us characters count: only a font's cmap says it draws them.
    return char.isspace() or _attaches(char) or unicodedata.category(char) == "Cc"


def missing(text: str, face: FontFace) -> str:
    """The distinct characters of ``text`` that neither ``face`` nor its fallbacks can draw."""
    covered = coverage(face)
    lost: dict[str, None] = {}
    for char in text:
        code = ord(char)
        if code in covered or _ignorable(char):
            continue
        if not any(code in coverage(fallback) for fallback in face.fallbacks):
            lost[char] = None
    return "".join(lost)


class ChainFont:
    """``face`` and its fallbacks at ``size`` pixels: measures and draws text run by run."""

    def __init__(self, face: FontFace, size: int) -> None:
        self.face = face
        self.size = size
        self.primary = load_face(face, size)
        self._covered = coverage(face)

    def runs(self, text: str) -> list[Run]:
        """``text`` cut into (face, text) runs in drawing order, left to right.

        Characters no face has stay in the main face. A line whose first strong character
        is right-to-left (Arabic, Hebrew) is laid out right to left: its runs go in reverse,
        left-to-right pieces (Latin words, figures such as "20%") keep their own order.
        """
        if not self.face.fallbacks or all(ord(c) in self._covered for c in text):
            return [(self.face, text)]
        rtl = base_rtl(text)
        runs: list[list[object]] = []
        for char in text:
            chosen = self._face_for(char)
            if runs:
                last_face = runs[-1][0]
                assert isinstance(last_face, FontFace)
                if _attaches(char) or (
                    last_face is not chosen
                    and _neutral(char)
                    # Figures in a right-to-left line read left to right: their own run.
                    and not (rtl and char in _DIGITS)
                    and not last_face.is_emoji  # its spaces are a full emoji wide
                    and ord(char) in coverage(last_face)
                ):
                    chosen = last_face
                if chosen is last_face:
                    runs[-1][1] = str(runs[-1][1]) + char
                    continue
            runs.append([chosen, char])
        logical = _edges_to_main(
            [(face, str(part)) for face, part in runs if isinstance(face, FontFace)], self.face
        )
        return _right_to_left(logical, self.face) if rtl else logical

    def _face_for(self, char: str) -> FontFace:
        code = ord(char)
        if code in self._covered or char.isspace():
            return self.face
        for fallback in self.face.fallbacks:
            if code in coverage(fallback):
                return fallback
        return self.face

    def getlength(self, text: str) -> float:
        """Advance width of ``text`` in pixels."""
        return sum(self._run_length(face, part) for face, part in self.runs(text))

    def getbbox(self, text: str, anchor: str = "ls") -> BBox:
        """Ink box of ``text`` drawn at the origin with ``anchor`` (only "ls" is used)."""
        x = 0.0
        box: BBox | None = None
        for face, part in self.runs(text):
            left, top, right, bottom = self._run_bbox(face, part)
            run_box = (x + left, top, x + right, bottom)
            box = run_box if box is None else _union(box, run_box)
            x += self._run_length(face, part)
        return box or (0.0, 0.0, 0.0, 0.0)

    def draw(
        self,
        image: Image.Image,
        draw: ImageDraw.ImageDraw,
        xy: tuple[float, float],
        text: str,
        fill: tuple[int, int, int],
    ) -> None:
        """Draw ``text`` with its baseline-left at ``xy``."""
        x, y = xy
        for face, part in self.runs(text):
            if face.is_emoji:
                _paste_emoji(image, face, part, (x, y), self.size)
            else:
                draw.text((x, y), part, font=self._font(face), fill=fill, anchor="ls")
            x += self._run_length(face, part)

    def _font(self, face: FontFace) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return self.primary if face is self.face else load_face(face, self.size)

    def _run_length(self, face: FontFace, part: str) -> float:
        if face.is_emoji:
            return float(load_face(face, self.size).getlength(part)) * self.size / EMOJI_STRIKE
        return float(self._font(face).getlength(part))

    def _run_bbox(self, face: FontFace, part: str) -> BBox:
        if face.is_emoji:
            scale = self.size / EMOJI_STRIKE
            left, top, right, bottom = load_face(face, self.size).getbbox(part, anchor="ls")
            return (left * scale, top * scale, right * scale, bottom * scale)
        left, top, right, bottom = self._font(face).getbbox(part, anchor="ls")
        return (float(left), float(top), float(right), float(bottom))


_DIGITS = frozenset("0123456789")


def _rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(char) in ("R", "AL") for char in text)


def strong_direction(text: str) -> bool | None:
    """True when the first strong character of ``text`` is right to left (Arabic, Hebrew),
    False when it is left to right, None when there is none (figures, punctuation): the
    Unicode bidi algorithm's rule P2, as a browser's ``dir="auto"`` applies it."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return None


def base_rtl(text: str) -> bool:
    """Whether ``text`` reads right to left (see ``strong_direction``)."""
    return strong_direction(text) is True


def _right_to_left(runs: list[Run], main: FontFace) -> list[Run]:
    """Logical runs of a right-to-left line in drawing order (left to right).

    Each right-to-left run is one piece (raqm orders its letters); consecutive other runs
    form one left-to-right piece. The pieces go in reverse, and the spaces at the ends of a
    left-to-right piece change ends with it, so "إطلاق API جديد" keeps one space each side.
    """
    pieces: list[list[Run]] = []
    for run in runs:
        if not _rtl(run[1]) and pieces and not _rtl(pieces[-1][-1][1]):
            pieces[-1].append(run)
        else:
            pieces.append([run])
    out: list[Run] = []
    for piece in reversed(pieces):
        out += piece if _rtl(piece[0][1]) else _mirror_spaces(piece, main)
    return out


def _mirror_spaces(piece: list[Run], main: FontFace) -> list[Run]:
    first_face, first = piece[0]
    last_face, last = piece[-1]
    lead = first[: len(first) - len(first.lstrip(" "))]
    if len(piece) == 1:
        core = first.strip(" ")
        trail = first[len(first.rstrip(" ")) :] if core else ""
        middle = [(first_face, core)] if core else []
    else:
        trail = last[len(last.rstrip(" ")) :]
        inner = [(first_face, first[len(lead) :]), *piece[1:-1], (last_face, last.rstrip(" "))]
        middle = [(face, part) for face, part in inner if part]
    return [(main, edge) for edge in (trail,) if edge] + middle + [(main, lead)] * bool(lead)


def _edges_to_main(runs: list[Run], main: FontFace) -> list[Run]:
    """Spaces at the ends of a right-to-left run are drawn outside it, in reading order.

    Inside a run raqm orders an RTL run right to left, so a trailing space would land on its
    left ("with  עבריתinline"); the spaces between its words stay in it.
    """
    out: list[Run] = []
    for face, part in runs:
        if face is main or not _rtl(part):
            out.append((face, part))
            continue
        core = part.strip(" ")
        lead, trail = part[: len(part) - len(part.lstrip(" "))], part[len(part.rstrip(" ")) :]
        out += [(main, edge) for edge in (lead,) if edge]
        out.append((face, core))
        out += [(main, edge) for edge in (trail,) if edge]
    return out


def _union(a: BBox, b: BBox) -> BBox:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


@functools.lru_cache(maxsize=256)
def _emoji_tile(face: FontFace, text: str, size: int) -> tuple[Image.Image, int, int]:
    """``text`` drawn from the emoji strike and scaled to ``size``: image and its offset."""
    font = load_face(face, size)
    left, top, right, bottom = (int(v) for v in font.getbbox(text, anchor="ls"))
    tile = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((-left, -top), text, font=font, embedded_color=True, anchor="ls")
    scale = size / EMOJI_STRIKE
    scaled = tile.resize(
        (max(1, round(tile.width * scale)), max(1, round(tile.height * scale))),
        Image.Resampling.LANCZOS,
    )
    return scaled, round(left * scale), round(top * scale)


def _paste_emoji(
    image: Image.Image, face: FontFace, text: str, xy: tuple[float, float], size: int
) -> None:
    tile, dx, dy = _emoji_tile(face, text, size)
    position = (round(xy[0]) + dx, round(xy[1]) + dy)
    if image.mode == "RGBA":
        image.alpha_composite(tile, position)
    else:
        image.paste(tile, position, tile)


@functools.lru_cache(maxsize=512)
def load_font(face: FontFace, size: int) -> ChainFont:
    """``face`` with its fallbacks at ``size`` pixels, cached."""
    return ChainFont(face, size)
