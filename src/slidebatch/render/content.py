"""What a slide's text is: figures, a sequence, parallel items, a quote, a comparison...

Pure reading, no pixels: the layout picks its arrangement from the :class:`Reading`. Works
on English and Chinese text alike (``Q3``, ``第三季度``, ``30%``, ``提升至 95%``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from slidebatch.core.slide import Slide
from slidebatch.render.textfit import Paragraph, paragraphs


class Kind(StrEnum):
    BULLETS = "bullets"  # text beside an illustration of the visual description
    DENSE = "dense"  # too much text for a panel: the text takes the width
    STATS = "stats"  # 2-4 figures as stat cards
    TIMELINE = "timeline"  # quarters, phases, years, steps along a line
    CARDS = "cards"  # 2-4 parallel items side by side
    QUOTE = "quote"
    COMPARISON = "comparison"  # two sides and a "vs"
    DIVIDER = "divider"  # a section title with little or no text
    CHART = "chart"  # a chart of the figures the items carry, the items beside it


class ChartKind(StrEnum):
    BARS = "bars"
    DONUT = "donut"
    LINE = "line"


@dataclass(frozen=True, slots=True)
class Figure:
    """A number the text carries, as written (``30%``), its value and what it measures."""

    shown: str
    value: float
    label: str
    # The change or context the figure alone does not carry, drawn small under it:
    # "9 days → 4 days", "weekly → 6 times a day"; empty when ``shown`` says it all.
    note: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    """One parallel item: an optional heading ("产品创新") and the rest of its text."""

    head: str
    body: str
    label: str | None  # "•", "1." or None

    @property
    def text(self) -> str:
        return f"{self.head}: {self.body}" if self.head and self.body else self.head or self.body


@dataclass(frozen=True, slots=True)
class Reading:
    """The slide's content as the layout sees it."""

    kind: Kind
    items: tuple[Item, ...]
    figures: tuple[Figure, ...]
    chart: ChartKind | None
    paragraphs: tuple[Paragraph, ...]
    # What the chart draws: (name, figure as shown, value), one unit throughout.
    plot: tuple[tuple[str, str, float], ...] = ()


_NUMBER = r"[-+]?\d+(?:[.,]\d+)?"
_UNIT = (
    r"(?:\s?(?:%|％|x\b|×|倍|万|亿|千|百万|[kKmM]\b|bn\b|B\b|million\b|billion\b|"
    r"days?\b|hours?\b|minutes?\b|weeks?\b|months?\b|years?\b|times\b|"
    r"kg\b|g\b|km\b|ms\b|天|小时|分钟|周|个月|年|次|人|家|项|元|美元))"
)
_FIGURE = re.compile(rf"(?:[$¥€£]\s?)?{_NUMBER}{_UNIT}?")
_STRONG_FIGURE = re.compile(rf"(?:[$¥€£]\s?{_NUMBER}|{_NUMBER}{_UNIT})")
_ARROW = re.compile(r"\s*(?:→|->|⟶|➜|=>|至|到|提升至|提高到|降至|降低到|增至|\bto\b)\s*")
_HEAD = re.compile(r"^(.{1,40}?)\s*(?:[:：]|\s[—–-]\s)\s*(.+)$")
_TIME_MARK = re.compile(
    r"^(?:Q[1-4]\b|H[12]\b|FY\s?\d{2,4}|(?:19|20)\d\d\b|第[一二三四五六七八九十\d]+"
    r"(?:季度|阶段|步|年|月|周|期)|[一二三四]季度|(?:step|phase|stage|week|month|day|sprint)"
    r"\s*\d+|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\d{1,2}月|"
    r"(?:first|second|third|fourth|next|then|finally|today|now|later)\b)",
    re.IGNORECASE,
)
_SEQUENCE_WORDS = re.compile(r"timeline|roadmap|milestone|时间轴|路线图|里程碑|进度|阶段", re.I)
_PARALLEL_WORDS = re.compile(
    r"\b(?:two|three|four|columns?|cards?|pillars?|in a row|side by side|icons)\b|"
    r"并列|两栏|三栏|四栏|三根|四根|三个|四个|两个|卡片|立柱|三大|四大",
    re.I,
)
_COMPARE_WORDS = re.compile(
    r"\bvs\.?\b|versus|compar|before and after|pros and cons|对比|比较|优劣|利弊|前后", re.I
)
_QUOTE_OPEN = '“"「『‘«'
_CHART_WORDS = {
    ChartKind.DONUT: re.compile(r"donut|doughnut|pie|share|饼|环形|占比", re.I),
    ChartKind.LINE: re.compile(r"line chart|trend|growth curve|折线|趋势|曲线", re.I),
    ChartKind.BARS: re.compile(r"bar|column chart|histogram|chart|graph|柱状|柱形|条形|图表", re.I),
}
# A chart asked for in so many words (a "trend" alone may describe stat cards' arrows).
_CHART_ASKED = re.compile(
    r"chart|graph|plot|donut|doughnut|pie|图表|折线图|柱状图|柱形图|饼图|环形图|曲线图|条形图", re.I
)
DENSE_WEIGHT = 420  # a Latin character weighs 1, a CJK character 2


def read_slide(slide: Slide) -> Reading:
    """How ``slide``'s text is best shown."""
    items_all = paragraphs(slide.content_text, bullets=True)
    listed = tuple(p for p in items_all if p.text or p.label)
    items = tuple(_item(p) for p in listed if p.text)
    figures = tuple(f for f in (_stat(item) for item in items) if f is not None)
    hint = f"{slide.visual_desc}\n{slide.title}"
    chart = _chart(hint)
    kind = _kind(slide, items, listed, figures, hint)
    plotted, plot = _plot(chart, items, slide.visual_desc)
    charted = plotted is not None and bool(plot)
    chart = plotted if charted else chart
    # Stat cards give way to a chart only when the description asks for one in so many words.
    overridable: tuple[Kind, ...] = (Kind.BULLETS, Kind.TIMELINE, Kind.CARDS)
    if _CHART_ASKED.search(slide.visual_desc):
        overridable += (Kind.STATS,)
    if charted and kind in overridable:
        kind = Kind.CHART
    return Reading(kind, items, figures, chart, items_all, plot if charted else ())


def unit_of(shown: str) -> str:
    """A figure's unit as written around its number: "$M" for "$1.2M", "%" for "25%"."""
    unit = re.sub(_NUMBER, "", shown, count=1).replace(" ", "").lower()
    return unit.replace("％", "%")


_SCALE = {"k": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "b": 1e9, "billion": 1e9}


def _scaled(shown: str) -> tuple[str, float]:
    """(unit without its scale, value with it): "$900K" and "$1.2M" are both dollars."""
    unit = unit_of(shown)
    for suffix, factor in sorted(_SCALE.items(), key=lambda pair: -len(pair[0])):
        if unit.endswith(suffix):
            return unit[: -len(suffix)], _value(shown) * factor
    return unit, _value(shown)


def _plot(
    chart: ChartKind | None, items: tuple[Item, ...], visual: str
) -> tuple[ChartKind | None, tuple[tuple[str, str, float], ...]]:
    """The chart to draw and its data: only figures of one unit, a donut only of parts.

    A donut shows percentages that make sense as shares: the item the description names
    ("a donut chart of margin": its latest figure against the rest of 100%), else items whose
    percentages add up to at most 100. Otherwise the largest group of like units as bars
    (or a line), or no chart at all.
    """
    if chart is None:
        return None, ()
    data = _latest(items)
    if chart is ChartKind.DONUT:
        wanted = visual.lower()
        named = [
            row for row in data if row[0] and row[0].lower() in wanted and unit_of(row[1]) == "%"
        ]
        if named:
            return chart, (named[0],)
        shares = [row for row in data if unit_of(row[1]) == "%"]
        if len(shares) == len(data) >= 2 and sum(row[2] for row in shares) <= 100.5:
            return chart, tuple(shares)
        chart = ChartKind.BARS
    groups: dict[str, list[tuple[str, str, float]]] = {}
    for name, shown, _value_as_written in data:
        unit, value = _scaled(shown)
        groups.setdefault(unit, []).append((name, shown, value))
    like = max(groups.values(), key=len, default=[])
    if len(like) >= 3 and len(data) == len(items):
        return chart, tuple(like)
    return None, ()


def like_numbers(text: str, chart: ChartKind) -> tuple[tuple[str, float], ...]:
    """The figures of ``text`` when they can share one chart (one unit; a donut: percentages)."""
    numbers = numbers_in(text)
    units = {_scaled(shown)[0] for shown, _value in numbers}
    if len(units) != 1 or (chart is ChartKind.DONUT and units != {"%"}):
        return ()
    return numbers


def _latest(items: tuple[Item, ...]) -> tuple[tuple[str, str, float], ...]:
    """(name, figure, value) per item that has one: the figure after an arrow when it has one."""
    found = []
    for item, (name, shown, value) in zip(items, _first(items), strict=False):
        figure = _stat(item) if _ARROW.search(item.body or item.head) else None
        if figure is not None:
            shown, value = figure.shown, figure.value
        found.append((name, shown, value))
    return tuple(row for row in found if row[1])


def _first(items: tuple[Item, ...]) -> tuple[tuple[str, str, float], ...]:
    rows = []
    for item in items:
        numbers = numbers_in(item.body or item.head)
        shown, value = numbers[0] if numbers else ("", 0.0)
        rows.append((item.head or item.body.replace(shown, "").strip(" :：,，"), shown, value))
    return tuple(rows)


def series(items: tuple[Item, ...]) -> tuple[tuple[str, str, float], ...]:
    """(name, figure as shown, value) for each item that carries a figure."""
    found = []
    for item in items:
        numbers = numbers_in(item.body or item.head)
        if numbers:
            shown, value = numbers[0]
            found.append((item.head or item.body.replace(shown, "").strip(" :：,，"), shown, value))
    return tuple(found)


def weight(text: str) -> int:
    """Reading weight: CJK characters count double."""
    return sum(2 if ord(c) > 0x2E80 else 1 for c in text)


def _kind(
    slide: Slide,
    items: tuple[Item, ...],
    listed: tuple[Paragraph, ...],
    figures: tuple[Figure, ...],
    hint: str,
) -> Kind:
    total = weight(slide.content_text)
    if not items or (len(items) == 1 and total <= 60 and not figures):
        return Kind.QUOTE if _is_quote(slide.content_text) else Kind.DIVIDER
    if _is_quote(slide.content_text) and len(items) <= 3:
        return Kind.QUOTE
    if total > DENSE_WEIGHT or len(items) > 7:
        return Kind.DENSE
    if 2 <= len(figures) <= 4 and len(figures) * 2 >= len(items):
        return Kind.STATS
    timed = sum(1 for item in items if _TIME_MARK.match(item.text))
    if 3 <= len(items) <= 6 and (timed >= len(items) - 1 or _SEQUENCE_WORDS.search(hint)):
        return Kind.TIMELINE
    uniform = len({p.label if p.label is None else p.label[-1:] for p in listed}) == 1
    if len(items) == 2 and _COMPARE_WORDS.search(f"{hint}\n{slide.content_text}"):
        return Kind.COMPARISON
    headed = all(item.head for item in items)
    short = all(weight(item.text) <= 120 for item in items)
    parallel = _PARALLEL_WORDS.search(hint) is not None and _count_in(hint) in (None, len(items))
    if 2 <= len(items) <= 4 and uniform and short and (headed or parallel):
        return Kind.CARDS
    return Kind.BULLETS


_COUNTS = {
    "two": 2,
    "three": 3,
    "four": 4,
    "两": 2,
    "二": 2,
    "三": 3,
    "四": 4,
    "2": 2,
    "3": 3,
    "4": 4,
}
_COUNT = re.compile(r"\b(two|three|four|[234])\b|([两二三四])(?:个|根|栏|条|大|列|张|项)", re.I)


def _count_in(hint: str) -> int | None:
    """The number of parallel things the description names ("three pillars", "两栏")."""
    match = _COUNT.search(hint)
    if match is None:
        return None
    return _COUNTS[(match.group(1) or match.group(2)).lower()]


def _item(paragraph: Paragraph) -> Item:
    match = _HEAD.match(paragraph.text)
    if match and weight(match.group(1)) <= 40 and not _FIGURE.fullmatch(match.group(1)):
        return Item(match.group(1).strip(), match.group(2).strip(), paragraph.label)
    return Item("", paragraph.text, paragraph.label)


def _stat(item: Item) -> Figure | None:
    """The item's headline figure, when the item is about a figure."""
    text = (item.body or item.head).strip()
    parts = _ARROW.split(text)
    if len(parts) >= 2:
        after = _FIGURE.search(parts[-1])
        if after and re.search(r"\d", after.group()):
            shown = after.group().strip()
            return Figure(shown, _value(shown), item.head or _strip(text, shown), _note(item, text))
    lead = _STRONG_FIGURE.match(text)
    if lead:
        label = item.head or text[lead.end() :].strip(" ,，:：")
        return Figure(lead.group().strip(), _value(lead.group()), label)
    found = list(_STRONG_FIGURE.finditer(text))
    if len(found) == 1 and weight(text) <= 36:
        # A short line about one figure ("新用户增长 40%", "客单价 ¥320").
        shown = found[0].group().strip()
        label = item.head or (text[: found[0].start()] + text[found[0].end() :]).strip(" ,，:：")
        return Figure(shown, _value(shown), label)
    return None


def _note(item: Item, text: str) -> str:
    """What a stat card must add under its figure so the item keeps its meaning.

    "9 days → 4 days" and, under a heading, "weekly → 6 times a day" keep where they came
    from; "满意度提升至 95%" has no "before" (the text before the arrow is the label); a figure
    that is only part of its phrase ("6 times" of "6 times a day") keeps the phrase.
    """
    arrows = list(_ARROW.finditer(text))
    start = arrows[-2].end() if len(arrows) > 1 else 0
    before, after = text[start : arrows[-1].start()].strip(), text[arrows[-1].end() :].strip()
    figure = _FIGURE.search(after)
    whole = figure is not None and figure.group().strip() == after
    if before and (item.head or _FIGURE.fullmatch(before)):
        return text[start:].strip()  # as written: "→", "->" or "提升至"
    return "" if whole else after


def _strip(text: str, figure: str) -> str:
    rest = _ARROW.split(text)[0]
    return rest.replace(figure, "").strip(" ,，:：") or text


def _value(shown: str) -> float:
    digits = re.search(_NUMBER, shown)
    return float(digits.group().replace(",", "")) if digits else 0.0


def _is_quote(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and stripped[0] in _QUOTE_OPEN


def _chart(hint: str) -> ChartKind | None:
    for kind, words in _CHART_WORDS.items():
        if words.search(hint):
            return kind
    return None


def numbers_in(text: str) -> tuple[tuple[str, float], ...]:
    """Every figure written in ``text`` (as shown, value), for charts."""
    found = []
    for match in _FIGURE.finditer(text):
        shown = match.group().strip()
        if re.search(r"\d", shown) and not re.fullmatch(r"(?:19|20)\d\d", shown):
            found.append((shown, _value(shown)))
    return tuple(found)
