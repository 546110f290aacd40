"""Deck input: the seed's batch request JSON (or a bare list of slides) and Markdown.

Pure: text in, values out. Every bad input raises ``InputError`` with one message that names
the source and the place (``deck.json: slide 2 has no title``), because the CLI prints that
message as is and the user fixes the file from it.

Markdown::

    ---
    title: Quarterly review
    style: corporate, deep blue #1A365D with gold accents
    aspect_ratio: 16:9
    max_workers: auto
    ---
    # First slide title
    body lines (bullets kept as lines)
    visual: a skyline at dawn        (also ``Visual:``, ``画面:``, or an HTML comment)
    type: cover                      (optional)
    ---
    # Next slide
    ...

Type inference (when a slide gives none): the first slide is the cover; the last slide is
the ending when its title reads like a closing slide (thanks, Q&A, questions, the end, 谢谢,
感谢, 结束...). A last slide without such a title stays a content slide even when it has no
body: a bare heading is as likely a section divider as a goodbye, and a wrong "ending" would
drop its page number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType
from slidebatch.errors import InputError

MaxWorkers = int | None | Literal["auto"]

_SLIDE_KEYS = ("id", "page_num", "type", "title", "content_text", "visual_desc")
_REQUEST_KEYS = ("slides", "style_prompt", "max_workers", "aspect_ratio", "title")

# English closings must open the title ("Thank you!", "Q&A", "Any questions?"), so "Open
# questions for Q3" stays content; Chinese ones may sit anywhere ("谢谢观看", "感谢聆听").
_ENDING_EN = re.compile(
    r"^\W*(?:thanks|thank\s+you|q\s*(?:&|and)\s*a|(?:any\s+)?questions|the\s+end|goodbye)\b",
    re.IGNORECASE,
)
_ENDING_ZH = re.compile(r"谢谢|感谢|致谢|结束|问答|答疑|再见")


@dataclass(frozen=True, slots=True)
class SlideDraft:
    """A slide as the input gave it: only the title is required."""

    title: str
    content_text: str = ""
    visual_desc: str = ""
    id: str | None = None
    page_num: int | None = None
    type: SlideType | None = None


@dataclass(frozen=True, slots=True)
class DeckInput:
    """A parsed deck. ``None`` fields were absent and fall back to settings or the CLI."""

    slides: tuple[Slide, ...]
    style_prompt: str | None = None
    aspect_ratio: AspectRatio | None = None
    max_workers: MaxWorkers = None
    title: str = ""


def looks_like_ending(title: str) -> bool:
    """True when ``title`` reads like a closing slide ("Thank you!", "Q&A", "谢谢")."""
    return bool(_ENDING_EN.match(title) or _ENDING_ZH.search(title))


def complete_slides(drafts: Sequence[SlideDraft], *, source: str = "deck") -> tuple[Slide, ...]:
    """Fill in ids (``slide-N``), page numbers (position) and types; reject duplicate ids."""
    count = len(drafts)
    slides: list[Slide] = []
    seen: set[str] = set()
    for position, draft in enumerate(drafts, start=1):
        slide_id = draft.id if draft.id is not None else f"slide-{position}"
        if slide_id in seen:
            raise InputError(f"{source}: slide {position}: duplicate slide id {slide_id!r}")
        seen.add(slide_id)
        slides.append(
            Slide(
                id=slide_id,
                page_num=draft.page_num if draft.page_num is not None else position,
                type=draft.type or _infer_type(position, count, draft.title),
                title=draft.title,
                content_text=draft.content_text,
                visual_desc=draft.visual_desc,
            )
        )
    return tuple(slides)


def _infer_type(position: int, count: int, title: str) -> SlideType:
    if position == 1:
        return SlideType.COVER
    if position == count and looks_like_ending(title):
        return SlideType.ENDING
    return SlideType.CONTENT


def parse_deck(
    text: str, *, fmt: Literal["json", "markdown"] | None = None, source: str = "deck"
) -> DeckInput:
    """Parse a deck given as JSON or Markdown (``fmt=None`` sniffs: ``{``/``[`` means JSON)."""
    text = text.removeprefix("\ufeff")
    if fmt is None:
        fmt = "json" if text.lstrip()[:1] in ("{", "[") else "markdown"
    if fmt == "json":
        return _parse_json(text, source)
    return _parse_markdown(text, source)


# --- JSON -------------------------------------------------------------------------------


def _parse_json(text: str, source: str) -> DeckInput:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if isinstance(data, list):
        data = {"slides": data}
    if not isinstance(data, dict):
        raise InputError(
            f"{source}: expected a JSON object with 'slides' or a list of slides, "
            f"got {_json_type(data)}"
        )
    _reject_unknown(data, _REQUEST_KEYS, source, "the deck")
    if "slides" not in data:
        raise InputError(f"{source}: missing field 'slides'")
    raw_slides = data["slides"]
    if not isinstance(raw_slides, list):
        raise InputError(f"{source}: 'slides' must be a list, got {_json_type(raw_slides)}")
    drafts = [_json_slide(raw, n, source) for n, raw in enumerate(raw_slides, start=1)]
    return _deck(
        drafts,
        source,
        style_prompt=_optional_str(data, "style_prompt", source),
        aspect_ratio=data.get("aspect_ratio"),
        max_workers=data.get("max_workers"),
        title=_optional_str(data, "title", source) or "",
    )


def _json_slide(raw: object, position: int, source: str) -> SlideDraft:
    where = f"{source}: slide {position}"
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be an object, got {_json_type(raw)}")
    _reject_unknown(raw, _SLIDE_KEYS, source, f"slide {position}")
    slide_id = raw.get("id")
    if slide_id is not None:
        # Integers are common in hand-written decks; the id stays the client's string.
        if isinstance(slide_id, int) and not isinstance(slide_id, bool):
            slide_id = str(slide_id)
        if not isinstance(slide_id, str) or not slide_id.strip():
            raise InputError(f"{where}: 'id' must be a non-empty string")
    content = raw.get("content_text", "")
    if isinstance(content, list) and all(isinstance(line, str) for line in content):
        content = "\n".join(content)
    for key, value in (("content_text", content), ("visual_desc", raw.get("visual_desc", ""))):
        if value is not None and not isinstance(value, str):
            raise InputError(f"{where}: '{key}' must be a string, got {_json_type(value)}")
    title = raw.get("title")
    if title is not None and not isinstance(title, str):
        raise InputError(f"{where}: 'title' must be a string, got {_json_type(title)}")
    return SlideDraft(
        title=title or "",
        content_text=content or "",
        visual_desc=raw.get("visual_desc") or "",
        id=slide_id,
        page_num=_page_num(raw.get("page_num"), where),
        type=_slide_type(raw.get("type"), where),
    )


def _reject_unknown(
    data: Mapping[str, Any], known: tuple[str, ...], source: str, what: str
) -> None:
    unknown = [key for key in data if key not in known]
    if unknown:
        raise InputError(
            f"{source}: {what} has unknown field {unknown[0]!r} (known: {', '.join(known)})"
        )


def _optional_str(data: Mapping[str, Any], key: str, source: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{source}: '{key}' must be a string, got {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    return names.get(type(value), type(value).__name__)


# --- shared field rules -------------------------------------------------------------------


def _page_num(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"{where}: 'page_num' must be a positive integer, got {value!r}")
    return value


def _slide_type(value: object, where: str) -> SlideType | None:
    if value is None:
        return None
    choices = ", ".join(t.value for t in SlideType)
    if isinstance(value, str):
        try:
            return SlideType(value.strip().lower())
        except ValueError:
            pass
    raise InputError(f"{where}: 'type' must be one of {choices}, got {value!r}")


def _max_workers(value: object, source: str) -> MaxWorkers:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit():
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise InputError(f"{source}: 'max_workers' must be a positive integer or 'auto', got {value!r}")


def _aspect(value: object, source: str) -> AspectRatio | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{source}: 'aspect_ratio' must be a string like '16:9', got {value!r}")
    try:
        return AspectRatio.parse(value)
    except InputError as exc:
        raise InputError(f"{source}: {exc.message}") from exc


def _deck(
    drafts: Sequence[SlideDraft],
    source: str,
    *,
    style_prompt: str | None,
    aspect_ratio: object,
    max_workers: object,
    title: str,
) -> DeckInput:
    if not drafts:
        raise InputError(f"{source}: the deck has no slides")
    for position, draft in enumerate(drafts, start=1):
        if not draft.title.strip():
            raise InputError(f"{source}: slide {position} has no title")
    return DeckInput(
        slides=complete_slides(drafts, source=source),
        style_prompt=style_prompt,
        aspect_ratio=_aspect(aspect_ratio, source),
        max_workers=_max_workers(max_workers, source),
        title=title.strip(),
    )


# --- Markdown -----------------------------------------------------------------------------

_SEPARATOR = re.compile(r"^\s*-{3,}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_VISUAL = re.compile(r"^\s*(?:visual|画面)\s*[:：]\s*(.*)$", re.IGNORECASE)
_TYPE = re.compile(r"^\s*type\s*[:：]\s*(\S+)\s*$", re.IGNORECASE)
_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
_FRONT_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")
_FRONT_KEYS = {
    "title": "title",
    "style": "style_prompt",
    "style_prompt": "style_prompt",
    "aspect_ratio": "aspect_ratio",
    "aspect": "aspect_ratio",
    "max_workers": "max_workers",
}


def _parse_markdown(text: str, source: str) -> DeckInput:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    front, lines = _front_matter(lines, source)
    drafts: list[SlideDraft] = []
    for chunk in _split_slides(lines):
        if not "".join(chunk).strip():
            continue  # a stray separator, e.g. a trailing "---"
        drafts.append(_markdown_slide(chunk, len(drafts) + 1, source))
    return _deck(
        drafts,
        source,
        style_prompt=front.get("style_prompt"),
        aspect_ratio=front.get("aspect_ratio"),
        max_workers=front.get("max_workers"),
        title=front.get("title", ""),
    )


def _front_matter(lines: list[str], source: str) -> tuple[dict[str, str], list[str]]:
    """Front matter is a leading ``---`` block of ``key: value`` lines (indented lines continue)."""
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None or not _SEPARATOR.match(lines[start]):
        return {}, lines
    end = next((i for i in range(start + 1, len(lines)) if _SEPARATOR.match(lines[i])), None)
    if end is None:
        return {}, lines
    block = lines[start + 1 : end]
    entries: list[tuple[str, str]] = []
    for line in block:
        if not line.strip() or line.lstrip().startswith("#!"):
            continue
        match = _FRONT_KEY.match(line)
        if match:
            entries.append((match.group(1), match.group(2).strip()))
        elif line[:1].isspace() and entries:
            key, value = entries[-1]
            entries[-1] = (key, f"{value} {line.strip()}".strip())
        else:
            return {}, lines  # not front matter: the block is the first slide
    if not entries:
        return {}, lines
    front: dict[str, str] = {}
    for key, value in entries:
        field = _FRONT_KEYS.get(key.lower())
        if field is None:
            known = ", ".join(_FRONT_KEYS)
            raise InputError(f"{source}: front matter has unknown key {key!r} (known: {known})")
        front[field] = _unquote(value.removeprefix(">").removeprefix("|").strip())
    return front, lines[end + 1 :]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _split_slides(lines: list[str]) -> list[list[str]]:
    chunks: list[list[str]] = [[]]
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
        if not in_fence and _SEPARATOR.match(line):
            chunks.append([])
        else:
            chunks[-1].append(line)
    return chunks


def _markdown_slide(chunk: list[str], position: int, source: str) -> SlideDraft:
    where = f"{source}: slide {position}"
    text = "\n".join(chunk)
    visuals = [" ".join(c.split()) for c in _COMMENT.findall(text) if c.strip()]
    text = _COMMENT.sub("", text)
    title: str | None = None
    slide_type: SlideType | None = None
    body: list[str] = []
    for line in text.split("\n"):
        heading = _HEADING.match(line)
        visual = _VISUAL.match(line)
        type_line = _TYPE.match(line)
        if heading and title is None:
            title = heading.group(2).strip()
        elif heading:
            body.append(heading.group(2).strip())  # later headings are body text
        elif visual:
            if visual.group(1).strip():
                visuals.append(visual.group(1).strip())
        elif type_line:
            slide_type = _slide_type(type_line.group(1), where)
        else:
            body.append(line.rstrip())
    if not title:
        raise InputError(f"{where} has no title (start it with a '# Heading' line)")
    return SlideDraft(
        title=title,
        content_text=_tidy_body(body),
        visual_desc=" ".join(visuals),
        type=slide_type,
    )


def _tidy_body(lines: list[str]) -> str:
    """Trim blank lines at both ends and squeeze runs of blank lines to one."""
    tidy: list[str] = []
    for line in lines:
        if not line.strip() and (not tidy or not tidy[-1].strip()):
            continue
        tidy.append(line)
    while tidy and not tidy[-1].strip():
        tidy.pop()
    return "\n".join(tidy)
