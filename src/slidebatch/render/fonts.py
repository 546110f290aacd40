"""Fonts for the local renderer: a CJK font found on the machine, else a Latin one.

Discovery reads the usual font folders once per process (cached); loaded faces are cached
per size, because the fitter tries several sizes per text block and decks repeat them.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

# Pillow's basic layout is several times faster than raqm and gives the same bytes on every
# machine; slides hold plain left-to-right text, which it draws correctly.
_LAYOUT = ImageFont.Layout.BASIC

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


@dataclass(frozen=True, slots=True)
class FontFace:
    """One face in a font file; ``path=None`` is Pillow's built-in font."""

    path: str | None
    index: int = 0


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
    if regular is not None:
        return FontSet(regular=regular, bold=_pick(files, _CJK_BOLD) or regular, has_cjk=True)
    regular = _pick(files, _LATIN_REGULAR)
    if regular is not None:
        return FontSet(regular=regular, bold=_pick(files, _LATIN_BOLD) or regular, has_cjk=False)
    return BUILTIN


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
def load_font(face: FontFace, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """``face`` at ``size`` pixels, cached."""
    if face.path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(face.path, size, index=face.index, layout_engine=_LAYOUT)
