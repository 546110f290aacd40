"""Fonts for the local renderer: a CJK font found on the machine, else a Latin one, plus
fallback faces (Arabic, Hebrew, Indic, Thai, symbols, colour emoji) for characters the main
face lacks.

Discovery reads the usual font folders once per process (cached); loaded faces are cached
per size, because the fitter tries several sizes per text block and decks repeat them.
Which characters a face covers is read from its cmap (fontTools), once per face.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import ImageFont, features

# Pillow's basic layout is several times faster than raqm and gives the same bytes on every
# machine; the main face draws left-to-right text, which it draws correctly. Fallback faces
# (Arabic, Hebrew, Indic scripts) need shaping and bidi: raqm, when Pillow has it.
_LAYOUT = ImageFont.Layout.BASIC
_SHAPING = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
# Colour emoji fonts are bitmap strikes FreeType only opens at their own size.
EMOJI_STRIKE = 109

# (file name, preferred face name inside a .ttc) in order of preference, regular then bold.
_CJK_REGULAR = (
    ("NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("NotoSansCJKsc-Regular.otf", None),
    ("NotoSansSC-Regular.otf", None),
    ("NotoSansSC-Regular.ttf", None),
    ("SourceHanSansSC-Regular.otf", None),
    ("SourceHanSans-Regular.ttc", "Source Han Sans SC"),
    ("wqy-microhei.ttc", None),
    ("wqy-zenhei.ttc", None),
    ("msyh.ttc", None),
    ("PingFang.ttc", "PingFang SC"),
    ("DroidSansFallbackFull.ttf", None),
)
_CJK_BOLD = (
    ("NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
    ("NotoSansCJKsc-Bold.otf", None),
    ("NotoSansSC-Bold.otf", None),
    ("NotoSansSC-Bold.ttf", None),
    ("SourceHanSansSC-Bold.otf", None),
    ("SourceHanSans-Bold.ttc", "Source Han Sans SC"),
    ("msyhbd.ttc", None),
)
_LATIN_REGULAR = (("DejaVuSans.ttf", None), ("LiberationSans-Regular.ttf", None))
_LATIN_BOLD = (("DejaVuSans-Bold.ttf", None), ("LiberationSans-Bold.ttf", None))
# Tried in order for a character the main face lacks (Debian: fonts-noto-core,
# fonts-noto-color-emoji, fonts-noto-cjk, fonts-dejavu-core).
_FALLBACKS = (
    ("NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    # Scripts before the broad faces: DejaVu has Arabic and Hebrew letters but no shaping data.
    ("NotoNaskhArabic-Regular.ttf", None),
    ("NotoSansArabic-Regular.ttf", None),
    ("NotoSansHebrew-Regular.ttf", None),
    ("NotoSansDevanagari-Regular.ttf", None),
    ("NotoSansBengali-Regular.ttf", None),
    ("NotoSansTamil-Regular.ttf", None),
    ("NotoSansThai-Regular.ttf", None),
    ("NotoSansArmenian-Regular.ttf", None),
    ("NotoSansGeorgian-Regular.ttf", None),
    ("NotoSansEthiopic-Regular.ttf", None),
    # Colour emoji before the symbol faces, which carry monochrome copies of many emoji.
    ("NotoColorEmoji.ttf", None),
    ("NotoSans-Regular.ttf", None),
    ("DejaVuSans.ttf", None),
    ("NotoSansMath-Regular.ttf", None),
    ("NotoSansSymbols-Regular.ttf", None),
    ("NotoSansSymbols2-Regular.ttf", None),
    ("NotoMusic-Regular.ttf", None),
    ("DejaVuSans-Bold.ttf", None),
)


@dataclass(frozen=True, slots=True)
class FontFace:
    """One face in a font file; ``path=None`` is Pillow's built-in font.

    ``fallbacks`` draw the characters this face lacks, first one that has it wins.
    """

    path: str | None
    index: int = 0
    fallbacks: tuple[FontFace, ...] = ()

    @property
    def is_emoji(self) -> bool:
        return self.path is not None and "emoji" in Path(self.path).name.lower()


@dataclass(frozen=True, slots=True)
class FontSet:
    """The faces the renderer draws with; ``has_cjk`` says whether Chinese will show."""

    regular: FontFace
    bold: FontFace
    has_cjk: bool


BUILTIN = FontSet(regular=FontFace(None), bold=FontFace(None), has_cjk=False)


def default_font_dirs() -> tuple[Path, ...]:
    """The usual font folders of Linux, macOS and Windows."""
    home = Path.home()
    dirs = [
        Path("/usr/share/fonts"),
        Path("/usr/local/share/fonts"),
        home / ".local/share/fonts",
        home / ".fonts",
        Path("/Library/Fonts"),
        Path("/System/Library/Fonts"),
        home / "Library/Fonts",
    ]
    if sys.platform == "win32":
        dirs.append(Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts")
    return tuple(dirs)


@functools.lru_cache(maxsize=8)
def find_fonts(dirs: Sequence[Path] | None = None) -> FontSet:
    """The best fonts under ``dirs`` (default: usual folders): CJK, else Latin, else built-in."""
    files = _index_files(default_font_dirs() if dirs is None else dirs)
    regular = _pick(files, _CJK_REGULAR)
    bold = _pick(files, _CJK_BOLD)
    has_cjk = regular is not None
    if regular is None:
        regular, bold = _pick(files, _LATIN_REGULAR), _pick(files, _LATIN_BOLD)
    if regular is None:
        return BUILTIN
    bold = bold or regular
    fallbacks = tuple(
        face
        for face in (_pick(files, (wanted,)) for wanted in _FALLBACKS)
        if face is not None and face.path not in (regular.path, bold.path)
    )
    # Bold text (titles) in Arabic, Hebrew and the other scripts: the bold cut of each
    # fallback where one is installed (NotoNaskhArabic-Bold.ttf...), else the regular one.
    bold_fallbacks = tuple(_bold_cut(files, face) or face for face in fallbacks)
    return FontSet(
        regular=replace(regular, fallbacks=fallbacks),
        bold=replace(bold, fallbacks=bold_fallbacks),
        has_cjk=has_cjk,
    )


def _bold_cut(files: dict[str, Path], face: FontFace) -> FontFace | None:
    """The ``-Bold`` file beside a ``-Regular`` fallback face, if installed."""
    name = Path(face.path or "").name
    if "-Regular." not in name or face.is_emoji:
        return None
    path = files.get(name.replace("-Regular.", "-Bold.", 1))
    return None if path is None else FontFace(str(path), face.index)


def _index_files(dirs: Iterable[Path]) -> dict[str, Path]:
    """File name to first path found; os.walk because font trees nest a few levels deep."""
    found: dict[str, Path] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for root, _subdirs, names in sorted(os.walk(folder)):
            for name in sorted(names):
                found.setdefault(name, Path(root) / name)
    return found


def _pick(files: dict[str, Path], wanted: Sequence[tuple[str, str | None]]) -> FontFace | None:
    for name, face_name in wanted:
        path = files.get(name)
        if path is None:
            continue
        index = _face_index(str(path), face_name) if face_name else 0
        if index is not None:
            return FontFace(str(path), index)
    return None


def _face_index(path: str, family: str) -> int | None:
    """Index of ``family`` inside a font collection (0 when the file is not a collection)."""
    for index in range(32):
        try:
            font = ImageFont.truetype(path, 12, index=index, layout_engine=_LAYOUT)
        except OSError:
            return 0 if index else None
        if font.getname()[0] == family:
            return index
    return 0


@functools.lru_cache(maxsize=512)
def load_face(face: FontFace, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """``face`` alone at ``size`` pixels (emoji faces at their strike size), cached."""
    if face.path is None:
        return ImageFont.load_default(size)
    if face.is_emoji:
        return ImageFont.truetype(face.path, EMOJI_STRIKE, index=face.index)
    # A face with fallbacks is a main face (basic layout); the fallbacks draw other scripts.
    layout = _LAYOUT if face.fallbacks else _SHAPING
    return ImageFont.truetype(face.path, size, index=face.index, layout_engine=layout)


@functools.lru_cache(maxsize=64)
def coverage(face: FontFace) -> frozenset[int]:
    """The code points ``face`` has glyphs for (Latin-1 for Pillow's built-in font)."""
    if face.path is None:
        return frozenset(range(0x20, 0x100))
    try:
        with TTFont(face.path, fontNumber=face.index, lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except Exception:  # a broken font file covers nothing rather than stopping a render
        return frozenset()
    return frozenset(cmap)
