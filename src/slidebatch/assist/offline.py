"""The offline helpers: a style prompt from an image's colours, an outline from headings.

No model and no network: what ``slidebatch style`` and ``slidebatch outline`` answer without a
chat model (no key, or the local provider), and what the fake upstream's chat model answers,
so tests through the fake see the same shapes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image


def offline_style(images: Sequence[bytes]) -> str:
    """A style prompt naming the first image's mean and dominant colours."""
    with Image.open(io.BytesIO(images[0])) as opened:
        small = opened.convert("RGB").resize((16, 16))
    raw = small.tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    mean = tuple(sum(p[i] for p in pixels) // len(pixels) for i in range(3))
    counts: dict[tuple[int, ...], int] = {}
    for pixel in pixels:
        key = tuple(channel // 32 * 32 for channel in pixel)
        counts[key] = counts.get(key, 0) + 1
    dominant = max(counts, key=lambda k: (counts[k], k))
    return (
        f"Flat editorial style: background {_hex(mean)}, primary {_hex(dominant)}, "
        "accent #D4AF37, text #1A1A1A; clean sans-serif type, generous white space, "
        "soft paper texture, calm and confident mood."
    )


def offline_outline(document: str, slides: int) -> str:
    """A Markdown deck of ``slides`` slides: a cover, the document's sections, an ending.

    Sections are the headings one level below the title (code blocks skipped), else the
    paragraphs; more sections than slides are grouped in order, fewer are split no further.
    """
    title, sections = _sections(document)
    out = [f"# {title}\n{_subtitle(sections)}\nvisual: a bold cover image for {title}"]
    for group in _groups(sections, max(0, slides - 2)):
        heading = group[0][0]
        points = [line for _, body in group for line in body][:_POINTS]
        if len(group) > 1:
            points = [name for name, _ in group[1:]] + points
        lines = "\n".join(f"- {_short(p)}" for p in points[:_POINTS])
        out.append(f"# {_short(heading)}\n{lines}\nvisual: an illustration of {heading.lower()}")
    if slides >= 2:
        out.append("# Thank you\nvisual: a calm closing image")
    return "\n---\n".join(out[:slides]) + "\n"


_POINTS = 4
_LINE = 90
Section = tuple[str, list[str]]


def _sections(document: str) -> tuple[str, list[Section]]:
    """The title and (heading, body lines) sections of ``document``."""
    headings: list[tuple[int, str, list[str]]] = []
    fenced = False
    loose: list[str] = []
    for raw in document.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if not line:
            if headings:
                headings[-1][2].append("")  # a paragraph ends
            continue
        level = len(line) - len(line.lstrip("#"))
        if 1 <= level <= 6 and line[level : level + 1] == " ":
            headings.append((level, line[level:].strip(), []))
        elif headings:
            headings[-1][2].append(line)
        else:
            loose.append(line)
    if not headings:
        paragraphs = [p.strip() for p in document.split("\n\n") if p.strip()]
        sections = [(" ".join(p.split()[:6]), p.splitlines()[1:]) for p in paragraphs]
        return (sections[0][0] if sections else "Overview"), sections[1:]
    top = min(level for level, _, _ in headings)
    title = headings[0][1] if headings[0][0] == top else "Overview"
    below = [h for h in headings if h[0] > top] or headings[1:]
    level = min((h[0] for h in below), default=top)
    found: list[Section] = []
    for depth, heading, body in below:
        if depth == level:
            found.append((heading, _points(body)))
        elif found:
            found[-1][1].append(heading)
    return title, found


def _points(lines: list[str]) -> list[str]:
    """List items as they are; of other paragraphs the first sentence; no tables or images."""
    points: list[str] = []
    paragraph: list[str] = []
    in_item = False
    for line in [*lines, ""]:
        item = line[:2] in ("- ", "* ") or (line[:1].isdigit() and ". " in line[:4])
        if item or not line:
            if paragraph:
                points.append(_first_sentence(" ".join(paragraph)))
                paragraph = []
            if item:
                points.append(line.split(" ", 1)[1])
            in_item = item
            continue
        if in_item:
            points[-1] += " " + line  # a list item wrapped over several lines
        elif not line.startswith(("|", "![", "<")):
            paragraph.append(line.lstrip("> "))
    return [_first_sentence(p.replace("**", "")) for p in points]


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".")


def _groups(sections: list[Section], slots: int) -> list[list[Section]]:
    """``sections`` in at most ``slots`` consecutive groups of near-equal size."""
    if slots <= 0 or not sections:
        return [[(f"Part {n + 1}", [])] for n in range(slots)] if not sections else []
    count = min(slots, len(sections))
    bounds = [round(i * len(sections) / count) for i in range(count + 1)]
    return [sections[bounds[i] : bounds[i + 1]] for i in range(count)]


def _subtitle(sections: list[Section]) -> str:
    return _short(", ".join(name for name, _ in sections[:3])) if sections else ""


def _short(text: str) -> str:
    text = " ".join(text.replace("`", "").split())
    return text if len(text) <= _LINE else text[: _LINE - 1].rstrip() + "…"


def _hex(rgb: Sequence[int]) -> str:
    return "#" + "".join(f"{channel:02X}" for channel in rgb[:3])
