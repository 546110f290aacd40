"""The offline outline: a document's headings, paragraphs and lists cut or merged to N slides.

Pure and deterministic. The document is read as sections (a Markdown heading, or a line
ending in a colon, opens one; a document without headings has one section per paragraph),
each a title and points (list items, else sentences). Sections are then merged (the
smallest neighbouring pair first) or split (the one with most points first) until there
is one per content slide: a cover first, an ending last, ``slide_count`` in all whenever
the document has enough points to fill them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace

from slidebatch.assist.front_matter import split_front_matter
from slidebatch.core.slide import SlideType
from slidebatch.errors import InputError

MAX_TITLE = 40
MAX_POINTS = 6

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_LABEL = re.compile(r"^\s*(.{1,40}?)[:：]\s*$")
_ITEM = re.compile(r"^\s*(?:[-*+•·]|\d{1,3}[.)、]|[一二三四五六七八九十]+[、.])\s+|^\s*\d{1,3}[、]")
# The seed's frontend wraps the document in 【原始文档】 and adds earlier outlines and notes.
_MARKER = re.compile(r"^\s*【([^】]{1,20})】\s*$")
_SENTENCE = re.compile(r"(?<=[。！？!?；;])\s*|(?<=[.])\s+")
_CJK = re.compile(r"[\u3400-\u9fff]")
# Emphasis and code marks, and heading/quote marks; an underscore inside a word (batch_id) stays.
_MARKS = re.compile(r"\*+|`+|^#+\s*|^>\s*")
_UNDERSCORES = re.compile(r"(?<!\w)_+|_+(?!\w)")
_RULE = re.compile(r"^\s{0,3}-{3,}\s*$")
_CODE_COMMENT = re.compile(r"^\s*(?:#+|//+|--|/\*+|\*+(?!/))\s*(.*?)\s*(?:\*+/)?\s*$")
_TABLE_RULE = re.compile(r"^:?-+:?$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]*>")
_ALT = re.compile(r"""\balt\s*=\s*(["'])(.*?)\1""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OutlineSlide:
    """One planned slide, in the seed's fields (``status`` is always pending)."""

    page_num: int
    type: SlideType
    title: str
    content_text: str
    visual_desc: str


@dataclass(frozen=True, slots=True)
class _Section:
    title: str
    points: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.points) + 1


def is_chinese(text: str) -> bool:
    """True when CJK characters make up a good part of ``text``."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and len(_CJK.findall(text)) * 3 >= len(letters)


def outline(text: str, slide_count: int) -> list[OutlineSlide]:
    """The slides of ``text``: a cover, content slides, an ending; ``slide_count`` at most.

    A leading front matter's ``title`` is the cover's. A document with no prose is read for
    the text it has (table cells, code comments, alt text, HTML text); with none,
    ``InputError``, as for an empty document.
    """
    fields, rest = split_front_matter(text.strip())
    document = _document_part(rest)
    chinese = is_chinese(document)
    title, lead, sections = _sections(_prose_lines(document))
    if not title and not sections:
        title, lead, sections = _sections(_plain_lines(document))
    title = _short(fields.get("title", "")) or title
    if not title and not sections:
        raise InputError(
            "the document has no text to outline (no prose, table cells, code comments "
            "or alt text); give some text to outline"
        )
    if slide_count <= 1:
        return [_cover(title or _first_title(sections, chinese), lead, sections, chinese)]
    body_slots = slide_count - 1 if slide_count == 2 else slide_count - 2
    body = _fit(sections, body_slots)
    cover_title = title or (body[0].title if body else _default_title(chinese))
    slides = [_cover(cover_title, lead, sections, chinese)]
    slides += [_content(i + 2, s, chinese) for i, s in enumerate(body)]
    if slide_count >= 3:
        slides.append(_ending(len(slides) + 1, cover_title, chinese))
    return slides


def inserted_slide(
    prompt: str, page_num: int, *, before: str | None = None, after: str | None = None
) -> OutlineSlide:
    """A content slide written from the user's description of it (for ``insert-slide``)."""
    points = _points_of(prompt)
    chinese = is_chinese(prompt)
    title = _short(points[0]) if points else _default_title(chinese)
    rest = points[1:] or points
    section = _Section(title, tuple(rest[:MAX_POINTS]))
    slide = _content(page_num, section, chinese)
    bridge = _bridge(before, after, chinese)
    return replace(slide, visual_desc=f"{slide.visual_desc}{bridge}")


def _document_part(text: str) -> str:
    parts: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        marker = _MARKER.match(line)
        if marker:
            current = marker.group(1)
            continue
        parts.setdefault(current, []).append(line)
    # The original document when the seed's frontend marked it, else everything unmarked.
    chosen = parts.get("原始文档") or parts.get("") or [line for p in parts.values() for line in p]
    return "\n".join(chosen)


@dataclass(slots=True)
class _Reader:
    """The document read line by line into a title, a lead and sections."""

    title: str = ""
    heading: str | None = None
    lines: list[str] = field(default_factory=list)
    loose: list[str] = field(default_factory=list)  # prose before the first section heading
    sections: list[_Section] = field(default_factory=list)
    previous: str = ""

    def close(self) -> None:
        if self.heading is not None:
            points = _points_of("\n".join(self.lines))
            self.sections.append(_Section(_short(self.heading), tuple(points)))
        else:
            self.loose += [*self.lines, ""]
        self.lines = []

    def feed(self, line: str) -> None:
        found = _HEADING.match(line)
        label = None if found or _ITEM.match(line) else _LABEL.match(line)
        if label and not _opens_paragraph(self.previous):
            label = None  # the last line of a wrapped sentence, not a heading
        self.previous = line
        first = not self.title and not self.sections and not "".join(self.lines).strip()
        if found and len(found.group(1)) == 1 and first and self.heading is None:
            self.title = _short(found.group(2))
        elif found or label:
            self.close()
            self.heading = found.group(2) if found else label.group(1) if label else None
        else:
            self.lines.append(line)


def _sections(lines: list[str]) -> tuple[str, str, list[_Section]]:
    """The title, the lead (prose before the first section) and the sections of ``lines``.

    A document without section headings has one section per paragraph.
    """
    reader = _Reader()
    for line in lines:
        reader.feed(line)
    reader.close()
    sections = [s for s in reader.sections if s.title or s.points]
    if not sections:
        return reader.title, "", _paragraph_sections(reader.loose)
    lead = _points_of(re.split(r"\n\s*\n", "\n".join(reader.loose).strip())[0])
    return reader.title, (_short(lead[0], 120) if lead else ""), sections


def _prose_lines(document: str) -> list[str]:
    """The document's prose: code blocks, tables, images and HTML lines are no text for a
    slide (blank lines in their place); a ``---`` rule ends a paragraph."""
    kept: list[str] = []
    fenced = False
    for line in document.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            kept.append("")  # a code block ends the paragraph before it
            continue
        skip = line.lstrip().startswith(("|", "![", "<")) or _RULE.match(line)
        kept.append("" if fenced or skip else line)
    return kept


def _plain_lines(document: str) -> list[str]:
    """The text of a document without prose: a table row's cells as a list item, a code
    comment's words, an image's alt text, an HTML line's text and alt attributes."""
    kept: list[str] = []
    fenced = False
    for line in document.splitlines():
        bare = line.strip()
        if bare.startswith(("```", "~~~")):
            fenced = not fenced
            kept.append("")
        elif fenced:
            comment = _CODE_COMMENT.match(line)
            kept.append(comment.group(1) if comment else "")
        elif bare.startswith("|"):
            cells = [c.strip() for c in bare.strip("|").split("|")]
            words = [c for c in cells if c and not _TABLE_RULE.match(c)]
            if words:  # a |---| rule row is left out: the rows stay one paragraph
                kept.append("- " + " · ".join(words))
        else:
            text = _IMAGE.sub(r"\1", line)
            text = _TAG.sub(lambda tag: f" {_alt_of(tag.group(0))} ", text)
            kept.append(html.unescape(re.sub(r"\s+", " ", text)).strip())
    return kept


def _alt_of(tag: str) -> str:
    found = _ALT.search(tag)
    return found.group(2) if found else ""


def _opens_paragraph(previous: str) -> bool:
    """Whether a line after ``previous`` starts afresh (a label may stand there)."""
    text = previous.strip()
    return not text or text[-1] in "。.!?！？:：" or bool(_HEADING.match(previous))


def _paragraph_sections(lines: list[str]) -> list[_Section]:
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines))
    sections = []
    for paragraph in paragraphs:
        points = _points_of(paragraph)
        if not points:
            continue
        if len(points) == 1:
            sections.append(_Section(_title_of(points[0]), (points[0],)))
        else:
            sections.append(_Section(_title_of(points[0]), tuple(points[1:])))
    return sections


def _title_of(sentence: str) -> str:
    """A title from a paragraph's first sentence: whole when short, else its first clause."""
    clean = _short(sentence, 10_000)
    if len(clean) <= MAX_TITLE:
        return clean
    clause = re.split(r"[,;:，；：—–(（]| - ", clean)[0].strip()
    if (len(clause) <= MAX_TITLE and len(clause.split()) >= 2) or is_chinese(clause):
        return _short(clause)
    return _short(clean)


def _points_of(text: str) -> list[str]:
    """List items when there are any (a wrapped item joined), else sentences; one line each."""
    lines = [line for line in text.splitlines() if line.strip()]
    items: list[str] = []
    for line in lines:
        if _ITEM.match(line):
            items.append(_ITEM.sub("", line).strip())
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
    if items:
        return items
    flowing = " ".join(line.strip().lstrip("> ") for line in lines)
    return [s.strip() for s in _SENTENCE.split(flowing) if s.strip()]


def _fit(sections: list[_Section], slots: int) -> list[_Section]:
    fitted = list(sections)
    while len(fitted) > slots >= 1:
        i = min(range(len(fitted) - 1), key=lambda k: fitted[k].size + fitted[k + 1].size)
        fitted[i : i + 2] = [_merge(fitted[i], fitted[i + 1])]
    while len(fitted) < slots:
        i = max(range(len(fitted)), key=lambda k: len(fitted[k].points), default=-1)
        if i < 0 or len(fitted[i].points) < 2:
            break
        fitted[i : i + 1] = _split(fitted[i])
    return fitted


def _merge(a: _Section, b: _Section) -> _Section:
    # The second section's title stays visible as a point of the merged slide.
    return _Section(a.title, (*a.points, b.title, *b.points))


def _split(section: _Section) -> list[_Section]:
    half = (len(section.points) + 1) // 2
    more = "（续）" if is_chinese(section.title) else " (cont.)"
    base = section.title.removesuffix(more)  # a second split continues the same title
    return [
        _Section(section.title, section.points[:half]),
        _Section(_short(base, MAX_TITLE) + more, section.points[half:]),
    ]


def _short(text: str, limit: int = MAX_TITLE) -> str:
    """``text`` on one line without Markdown emphasis, cut at a word boundary to ``limit``."""
    bare = _UNDERSCORES.sub("", _MARKS.sub("", text))
    clean = re.sub(r"\s+", " ", bare).strip().rstrip("。.:：;；")
    if len(clean) <= limit:
        return clean
    cut = clean[: limit - 1]
    if " " in cut and not is_chinese(cut):
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:，；：") + "…"


def _cover(title: str, lead: str, sections: list[_Section], chinese: bool) -> OutlineSlide:
    topics = [s.title for s in sections[:4] if s.title and s.title != title]
    subtitle = lead or " · ".join(topics)
    visual = (
        "封面：标题大字居中，下方一行副标题，留白充足，背景用模板主色的大面积渐变。"
        if chinese
        else "Cover: large centred title, one subtitle line below, generous space, "
        "a broad gradient in the template's main colour."
    )
    return OutlineSlide(1, SlideType.COVER, title, subtitle, visual)


def _content(page_num: int, section: _Section, chinese: bool) -> OutlineSlide:
    points = [_short(p, 120) for p in section.points[:MAX_POINTS]]
    return OutlineSlide(
        page_num,
        SlideType.CONTENT,
        section.title,
        "\n".join(points),
        _layout(len(points), chinese),
    )


def _layout(points: int, chinese: bool) -> str:
    if chinese:
        if points <= 1:
            return "标题在上，一句核心观点居中放大，配一个简洁的示意图标。"
        if points <= 3:
            return f"标题在上，下方 {points} 张并列卡片，每张一个图标和一句要点。"
        return f"标题在左上，右侧 {points} 条要点纵向排列，每条前有编号圆点。"
    if points <= 1:
        return "Title on top, one key statement enlarged in the centre with a simple icon."
    if points <= 3:
        return f"Title on top, {points} cards side by side, each an icon and one point."
    return f"Title at top left, {points} numbered points stacked on the right."


def _ending(page_num: int, title: str, chinese: bool) -> OutlineSlide:
    if chinese:
        return OutlineSlide(
            page_num,
            SlideType.ENDING,
            "谢谢观看",
            title,
            "结束页：致谢大字居中，与封面呼应的配色和构图。",
        )
    return OutlineSlide(
        page_num,
        SlideType.ENDING,
        "Thank you",
        title,
        "Ending: a large centred thank-you, colours and composition echoing the cover.",
    )


def _first_title(sections: list[_Section], chinese: bool) -> str:
    return sections[0].title if sections else _default_title(chinese)


def _default_title(chinese: bool) -> str:
    return "演示文稿" if chinese else "Presentation"


def _bridge(before: str | None, after: str | None, chinese: bool) -> str:
    if not before and not after:
        return ""
    if chinese:
        return f"风格与前后页（{before or '-'} / {after or '-'}）保持一致。"
    return f" Keep the look of the slides around it ({before or '-'} / {after or '-'})."
