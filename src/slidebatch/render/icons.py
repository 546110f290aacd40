"""Icons for illustrations: Font Awesome Free's solid set (the ``fontawesomefree`` package),
picked by keywords in a slide's visual description, title or item text.

The icon font is rasterised by Pillow's FreeType like any text, so an icon costs what a
glyph costs. Its glyph names are the icon names, read from the font's cmap once.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from fontTools.ttLib import TTFont

_FONT = "static/fontawesomefree/webfonts/fa-solid-900.ttf"

# Keyword (English word stem or Chinese term) -> icon name, most specific first.
# fmt: off
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("line chart", "chart-line"), ("折线", "chart-line"), ("趋势", "arrow-trend-up"),
    ("trend", "arrow-trend-up"), ("上升", "arrow-trend-up"), ("growth", "arrow-trend-up"),
    ("增长", "arrow-trend-up"), ("bar chart", "chart-column"), ("柱状", "chart-column"),
    ("pie", "chart-pie"), ("donut", "chart-pie"), ("饼图", "chart-pie"),
    ("chart", "chart-column"), ("图表", "chart-column"), ("metric", "gauge-high"),
    ("指标", "gauge-high"), ("dashboard", "gauge-high"), ("funnel", "filter"), ("漏斗", "filter"),
    ("clock", "clock"), ("时钟", "clock"), ("stopwatch", "stopwatch"), ("秒表", "stopwatch"),
    ("time", "hourglass-half"), ("时间", "hourglass-half"), ("周期", "arrows-rotate"),
    ("branch", "code-branch"), ("分支", "code-branch"), ("toggle", "toggle-on"),
    ("switch", "toggle-on"), ("开关", "toggle-on"), ("bird", "dove"), ("canary", "dove"),
    ("鸟", "dove"), ("conveyor", "truck-fast"), ("deliver", "truck-fast"), ("交付", "truck-fast"),
    ("cube", "cubes"), ("box", "boxes-stacked"), ("方块", "cubes"), ("箱", "boxes-stacked"),
    ("skyline", "city"), ("city", "city"), ("城市", "city"), ("天际线", "city"),
    ("building", "building"), ("建筑", "building"), ("sun", "sun"), ("晨光", "sun"),
    ("阳光", "sun"), ("light", "sun"), ("光", "sun"), ("lightbulb", "lightbulb"),
    ("bulb", "lightbulb"), ("灯泡", "lightbulb"), ("idea", "lightbulb"), ("创新", "lightbulb"),
    ("innovat", "lightbulb"), ("globe", "earth-asia"), ("world", "earth-asia"),
    ("地球", "earth-asia"), ("global", "earth-asia"), ("海外", "earth-asia"),
    ("市场", "earth-asia"), ("market", "earth-asia"), ("gear", "gear"), ("齿轮", "gear"),
    ("operat", "gears"), ("运营", "gears"), ("process", "gears"), ("流程", "gears"),
    ("pillar", "building-columns"), ("立柱", "building-columns"), ("柱", "building-columns"),
    ("timeline", "timeline"), ("时间轴", "timeline"), ("roadmap", "route"), ("路线", "route"),
    ("milestone", "flag-checkered"), ("里程碑", "flag-checkered"), ("calendar", "calendar-days"),
    ("quarter", "calendar-days"), ("季度", "calendar-days"), ("rocket", "rocket"),
    ("launch", "rocket"), ("上线", "rocket"), ("火箭", "rocket"), ("target", "bullseye"),
    ("goal", "bullseye"), ("目标", "bullseye"), ("战略", "chess-knight"),
    ("strategy", "chess-knight"), ("team", "people-group"), ("团队", "people-group"),
    ("customer", "users"), ("客户", "users"), ("user", "users"), ("用户", "users"),
    ("people", "people-group"), ("人", "user"), ("handshake", "handshake"), ("合作", "handshake"),
    ("partner", "handshake"), ("security", "shield-halved"), ("安全", "shield-halved"),
    ("合规", "scale-balanced"), ("regulat", "scale-balanced"), ("监管", "scale-balanced"),
    ("compar", "scale-balanced"), ("对比", "scale-balanced"), ("versus", "scale-balanced"),
    ("竞争", "chess"), ("compet", "chess"), ("price", "tags"), ("价格", "tags"),
    ("cost", "coins"), ("成本", "coins"), ("money", "sack-dollar"), ("revenue", "sack-dollar"),
    ("收入", "sack-dollar"), ("营收", "sack-dollar"), ("profit", "money-bill-trend-up"),
    ("利润", "money-bill-trend-up"), ("finance", "coins"), ("金融", "coins"), ("ai", "robot"),
    ("robot", "robot"), ("智能", "brain"), ("brain", "brain"), ("data", "database"),
    ("数据", "database"), ("cloud", "cloud"), ("云", "cloud"), ("server", "server"),
    ("服务器", "server"), ("code", "code"), ("代码", "code"), ("software", "laptop-code"),
    ("软件", "laptop-code"), ("digital", "microchip"), ("数字化", "microchip"),
    ("chip", "microchip"), ("mobile", "mobile-screen"), ("手机", "mobile-screen"),
    ("network", "network-wired"), ("网络", "network-wired"), ("search", "magnifying-glass"),
    ("搜索", "magnifying-glass"), ("review", "magnifying-glass"), ("评审", "magnifying-glass"),
    ("复盘", "magnifying-glass"), ("lock", "lock"), ("key", "key"), ("check", "circle-check"),
    ("验证", "circle-check"), ("test", "flask"), ("试点", "flask"), ("experiment", "flask"),
    ("实验", "flask"), ("research", "microscope"), ("研究", "microscope"),
    ("health", "heart-pulse"), ("医疗", "heart-pulse"), ("education", "graduation-cap"),
    ("教育", "graduation-cap"), ("learn", "book-open"), ("学习", "book-open"),
    ("book", "book-open"), ("green", "leaf"), ("环保", "leaf"), ("sustain", "seedling"),
    ("可持续", "seedling"), ("seed", "seedling"), ("plant", "seedling"), ("energy", "bolt"),
    ("能源", "bolt"), ("fast", "bolt"), ("speed", "gauge-high"), ("速度", "gauge-high"),
    ("快", "bolt"), ("quality", "medal"), ("质量", "medal"), ("award", "trophy"),
    ("winner", "trophy"), ("满意", "face-smile"), ("satisf", "face-smile"),
    ("happy", "face-smile"), ("question", "circle-question"), ("提问", "circle-question"),
    ("问题", "circle-question"), ("thank", "heart"), ("谢谢", "heart"), ("感谢", "heart"),
    ("chat", "comments"), ("交流", "comments"), ("comment", "comments"), ("message", "envelope"),
    ("email", "envelope"), ("邮件", "envelope"), ("quote", "quote-left"), ("引用", "quote-left"),
    ("ship", "ship"), ("plane", "plane"), ("travel", "plane"), ("物流", "truck"),
    ("truck", "truck"), ("factory", "industry"), ("工厂", "industry"), ("制造", "industry"),
    ("shop", "store"), ("retail", "store"), ("零售", "store"), ("cart", "cart-shopping"),
    ("电商", "cart-shopping"), ("warning", "triangle-exclamation"),
    ("risk", "triangle-exclamation"), ("风险", "triangle-exclamation"), ("挑战", "mountain"),
    ("challenge", "mountain"), ("机遇", "door-open"), ("opportunit", "door-open"),
    ("rollback", "rotate-left"), ("回滚", "rotate-left"), ("flag", "flag"), ("release", "rocket"),
    ("发布", "rocket"), ("deploy", "rocket"), ("部署", "rocket"), ("wave", "water"),
    ("water", "water"), ("mountain", "mountain-sun"), ("山", "mountain-sun"), ("road", "road"),
    ("道路", "road"), ("map", "map-location-dot"), ("地图", "map-location-dot"),
    ("puzzle", "puzzle-piece"), ("拼图", "puzzle-piece"), ("layer", "layer-group"),
    ("层", "layer-group"), ("tool", "screwdriver-wrench"), ("工具", "screwdriver-wrench"),
    ("resource", "boxes-stacked"), ("资源", "boxes-stacked"), ("channel", "diagram-project"),
    ("渠道", "diagram-project"), ("plan", "list-check"), ("计划", "list-check"),
    ("规划", "list-check"), ("step", "stairs"), ("阶段", "stairs"), ("star", "star"),
    ("星", "star"), ("leaf", "leaf"), ("叶", "leaf"), ("van", "truck"), ("parcel", "box"),
    ("包裹", "box"), ("electric", "charging-station"), ("电动", "charging-station"),
    ("co2", "smog"), ("碳", "smog"), ("emission", "smog"), ("排放", "smog"),
    ("compass", "compass"), ("指南针", "compass"), ("direction", "compass"), ("方向", "compass"),
    ("checklist", "list-check"), ("清单", "list-check"), ("heart", "heart"),
    ("arrow", "arrow-right"), ("箭头", "arrow-right"), ("phone", "mobile-screen"),
    ("web", "globe"), ("网站", "globe"), ("desktop", "desktop"), ("电脑", "desktop"),
)
# fmt: on
FALLBACK_ICONS = ("lightbulb", "bullseye", "gears", "rocket", "users", "chart-line")
_WORD_START = re.compile(r"[a-z]")


@functools.lru_cache(maxsize=1)
def icon_font_path() -> str | None:
    """The icon font file, or None when the package is not installed."""
    try:
        path = resources.files("fontawesomefree").joinpath(_FONT)
    except ModuleNotFoundError:
        return None
    return str(path) if path.is_file() else None


@functools.lru_cache(maxsize=1)
def _glyphs() -> dict[str, str]:
    path = icon_font_path()
    if path is None:
        return {}
    with TTFont(path, lazy=True) as font:
        cmap = font.getBestCmap() or {}
    names: dict[str, str] = {}
    for code, name in sorted(cmap.items()):
        names.setdefault(name, chr(code))
    return names


def glyph(name: str) -> str | None:
    """The character that draws icon ``name``, or None if the set lacks it."""
    return _glyphs().get(name)


def icons_for(text: str, *, limit: int = 3) -> tuple[str, ...]:
    """Icon names for ``text``'s keywords, in the order the text mentions them."""
    lowered = text.lower()
    found: list[tuple[int, int, str]] = []
    for keyword, name in _KEYWORDS:
        position = _find(lowered, keyword)
        if position >= 0 and glyph(name) is not None:
            found.append((position, position + len(keyword), name))
    # Earliest first; at one place the longest keyword ("时间轴" over "时间") wins.
    found.sort(key=lambda match: (match[0], match[0] - match[1]))
    names: list[str] = []
    taken_until = -1
    for start, end, name in found:
        if start < taken_until:
            continue
        taken_until = end
        if name not in names:
            names.append(name)
    return tuple(names[:limit])


def _find(text: str, keyword: str) -> int:
    """Where ``keyword`` starts in ``text``; English keywords only at a word's start."""
    start = text.find(keyword)
    if not _WORD_START.match(keyword):
        return start
    while start >= 0:
        if start == 0 or not text[start - 1].isalpha():
            return start
        start = text.find(keyword, start + 1)
    return -1
