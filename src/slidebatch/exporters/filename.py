"""File names for exports: Unicode-safe slugs and RFC 6266/5987 ``Content-Disposition`` values."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_DASHES = re.compile(r"-{2,}")
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9._ -]+")
# Characters a quoted-string filename must not carry (quotes, backslash, controls, separators).
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')
MAX_SLUG = 40
# In UTF-8 bytes: most file systems cap a name at 255 bytes, and atomic writes add a
# ``.<name>.<token>.part`` temporary around it, so a deck name keeps well below.
MAX_NAME_BYTES = 150


def slugify(text: str, *, fallback: str = "slide", max_length: int = MAX_SLUG) -> str:
    """Lowercase words of any script joined by ``-``; ``fallback`` when nothing is left.

    Latin accents are folded (``Café`` -> ``cafe``); other scripts keep their letters, so a
    Chinese title keeps its meaning (``市场分析``). Only letters, digits and marks survive:
    no separators, dots or characters a file system could object to.
    """
    chars: list[str] = []
    for char in unicodedata.normalize("NFKC", text):
        folded = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
        if folded.isalnum():
            chars.append(folded.lower())
        elif char.isalnum() or (chars and unicodedata.category(char).startswith("M")):
            chars.append(char.lower())
        else:
            chars.append("-")
    slug = _DASHES.sub("-", "".join(chars)).strip("-")
    slug = slug[:max_length].rstrip("-")
    return slug or fallback


def export_filename(title: str, extension: str, *, fallback: str = "deck") -> str:
    """A download name from the deck title, non-ASCII kept (``季度报告.pptx``)."""
    name = _UNSAFE_IN_NAME.sub(" ", unicodedata.normalize("NFC", title))
    name = _cut_to_bytes(" ".join(name.split()), MAX_NAME_BYTES).strip(" .")
    return f"{name or fallback}.{extension.lstrip('.')}"


def slide_file_name(position: int, count: int, title: str, extension: str) -> str:
    """``NN-<slug>.<ext>`` for the slide at 1-based ``position`` of a ``count``-slide deck.

    The one scheme of the output folder and the ZIP. Numbered by position, not page number,
    so two slides that share a page number and a title still get two files.
    """
    width = max(2, len(str(count)))
    return f"{position:0{width}d}-{slugify(title)}.{extension.lstrip('.')}"


def _cut_to_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``limit`` bytes."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def deck_export_name(title: str, folder_name: str, extension: str) -> str:
    """The one name a deck's export gets in its folder, whoever writes it.

    ``slidebatch generate --pptx`` and ``slidebatch export DIR`` both call this, so a
    re-export replaces the file instead of adding a second, differently named copy.
    """
    return export_filename(title or folder_name, extension)


def content_disposition(filename: str, *, disposition: str = "attachment") -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''percent-encoded`` (RFC 6266 + 5987).

    Old clients read the ASCII ``filename``; every current browser prefers ``filename*``.
    """
    clean = _UNSAFE_IN_NAME.sub("_", filename).strip() or "download"
    value = f'{disposition}; filename="{_ascii_fallback(clean)}"'
    if clean != _ascii_fallback(clean):
        value += f"; filename*=UTF-8''{quote(clean, safe='')}"
    return value


def _ascii_fallback(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    folded = _NOT_TOKEN.sub("_", folded)
    stem, dot, ext = folded.rpartition(".")
    if not dot:
        stem, ext = folded, ""
    stem = stem.strip(" .")
    if not stem.strip("_"):
        stem = "download"
    return f"{stem}.{ext}" if ext else stem
