"""Layouts chosen by content: the examples fill the slide and draw their visual descriptions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.deck import parse_deck
from slidebatch.core.slide import Slide, SlideType
from slidebatch.render import render_slide
from slidebatch.render.content import Kind, numbers_in, read_slide
from slidebatch.render.icons import glyph, icons_for
from slidebatch.render.layout import layout_slide
from slidebatch.render.measure import uniform_share
from slidebatch.render.scene import ShapeKind

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WIDE = AspectRatio(16, 9)
MAX_UNIFORM = 0.45


def _example_slides() -> list[tuple[str, Slide, str]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.json")):
        deck = parse_deck(path.read_text("utf-8"), source=path.name)
        found += [(f"{path.stem}-p{s.page_num}", s, deck.style_prompt or "") for s in deck.slides]
    return found


EXAMPLE_SLIDES = _example_slides()
CONTENT_WITH_VISUALS = [
    case for case in EXAMPLE_SLIDES if case[1].type is SlideType.CONTENT and case[1].visual_desc
]


def _slide(content: str, visual: str = "", title: str = "Title") -> Slide:
    return Slide("s", 2, SlideType.CONTENT, title, content, visual)


def test_examples_include_figures_a_roadmap_and_parallel_items() -> None:
    """The example decks exercise stat cards, a chart, a timeline and cards."""
    kinds = {read_slide(slide).kind for _name, slide, _style in EXAMPLE_SLIDES}
    assert {Kind.STATS, Kind.TIMELINE, Kind.CARDS, Kind.CHART, Kind.QUOTE} <= kinds


@pytest.mark.parametrize(
    ("name", "slide", "style"), CONTENT_WITH_VISUALS, ids=[c[0] for c in CONTENT_WITH_VISUALS]
)
def test_content_slides_with_a_visual_are_not_mostly_empty(
    name: str, slide: Slide, style: str
) -> None:
    """At most 45% of 12x12 tiles at 192x108 are uniform on an example content slide."""
    image = Image.open(io.BytesIO(render_slide(slide, style, WIDE)))
    assert uniform_share(image) <= MAX_UNIFORM, name


@pytest.mark.parametrize(
    ("name", "slide", "style"), EXAMPLE_SLIDES, ids=[c[0] for c in EXAMPLE_SLIDES]
)
def test_every_icon_the_visual_description_names_is_drawn(
    name: str, slide: Slide, style: str
) -> None:
    """A description's icons appear on the slide (or its chart does when it asks for one)."""
    layout = layout_slide(slide, style, WIDE, long_side=960)
    drawn = {shape.glyph for shape in layout.shapes if shape.kind is ShapeKind.ICON}
    named = icons_for(slide.visual_desc, limit=8)
    if layout.kind == "chart" or any(s.kind is ShapeKind.LINE for s in layout.shapes):
        return
    if slide.type is SlideType.CONTENT and slide.visual_desc:
        assert drawn, name
    first = [glyph(n) for n in named][: max(1, len(named) - 1)]
    assert not first or any(g in drawn for g in first), (name, named)


@pytest.mark.parametrize(
    ("name", "slide", "style"), EXAMPLE_SLIDES, ids=[c[0] for c in EXAMPLE_SLIDES]
)
def test_the_visual_description_changes_the_picture(name: str, slide: Slide, style: str) -> None:
    """The same slide with another visual description is drawn differently."""
    other = slide.with_visual_desc("a rocket, a globe, a gear and a trophy")
    assert render_slide(slide, style, WIDE, long_side=480) != render_slide(
        other, style, WIDE, long_side=480
    )


@pytest.mark.parametrize(
    ("content", "visual", "kind"),
    [
        ("- Revenue: $2.1M → $3.4M\n- Churn: 9% → 4%\n- NPS: 31 → 52", "", Kind.STATS),
        ("- 30% faster builds\n- 2x more deploys\n- 45 minutes saved a day", "", Kind.STATS),
        ("- Q1: hire\n- Q2: build\n- Q3: pilot\n- Q4: launch", "", Kind.TIMELINE),
        ("- 第一阶段：调研\n- 第二阶段：试点\n- 第三阶段：推广", "", Kind.TIMELINE),
        ("1. Speed: ship daily\n2. Safety: flags\n3. Focus: fewer bets", "", Kind.CARDS),
        ("- ship daily\n- review fast\n- measure", "three pillars", Kind.CARDS),
        ("“Simplicity is the soul of efficiency.”\n— Austin Freeman", "", Kind.QUOTE),
        ("- Old: weekly releases\n- New: daily releases", "before and after", Kind.COMPARISON),
        ("", "an arrow", Kind.DIVIDER),
        ("- A: 10\n- B: 25\n- C: 40", "a bar chart", Kind.CHART),
        ("\n".join(f"- point number {i} of a long list" for i in range(12)), "", Kind.DENSE),
        ("- one idea\n- another, longer idea in a sentence", "a lighthouse", Kind.BULLETS),
    ],
)
def test_layout_is_chosen_from_the_content(content: str, visual: str, kind: Kind) -> None:
    """Figures, sequences, parallel items, quotes, pairs and lists each get their layout."""
    slide = _slide(content, visual)
    assert read_slide(slide).kind is kind
    layout = layout_slide(slide, "", WIDE, long_side=960)
    assert layout.kind == str(kind)


def test_stat_cards_show_the_new_figure_and_the_old_one() -> None:
    """'9 days → 4 days' shows '4 days' large and the change small."""
    layout = layout_slide(_slide("- Lead time: 9 days → 4 days\n- Failures: 18% → 7%"), "", WIDE)
    lines = [line.text for text in layout.texts for line in text.block.lines]
    assert "4 days" in lines
    assert "9 days → 4 days" in lines


def test_stat_cards_keep_the_context_a_figure_does_not_carry() -> None:
    """'weekly → 6 times a day' keeps 'weekly' and 'a day' under the card's '6 times'."""
    content = "- Lead time: 9 days → 4 days\n- Deployment frequency: weekly → 6 times a day"
    layout = layout_slide(_slide(content), "", WIDE)
    assert layout.kind == "stats"
    text = " ".join(line.text for text in layout.texts for line in text.block.lines)
    assert "weekly → 6 times a day" in text
    assert "9 days → 4 days" in text


MIXED_UNITS = (
    "- Revenue: $1.2M → $3.4M\n- Costs: $900K → $1.1M\n- Margin: 25% → 68%\n"
    "- Customers: 1,200 → 4,800\n- NPS: 31 → 52\n- Churn: 9% → 4%"
)


def test_a_donut_shows_only_shares_of_one_unit() -> None:
    """'A donut chart of margin' over mixed units draws margin's 68% of 100%, not six values."""
    layout = layout_slide(_slide(MIXED_UNITS, "a donut chart of margin"), "", WIDE)
    wedges = [s for s in layout.shapes if s.kind is ShapeKind.WEDGE]
    assert len(wedges) == 2
    assert round(wedges[0].end - wedges[0].start) == round(360 * 0.68)
    labels = [line.text for text in layout.extras for line in text.block.lines]
    assert "68%" in labels
    assert "$1.2" not in labels
    unnamed = layout_slide(_slide(MIXED_UNITS, "a donut chart"), "", WIDE)
    unnamed_labels = [line.text for text in unnamed.extras for line in text.block.lines]
    assert "$1.2" not in unnamed_labels
    assert "$1.2M" not in unnamed_labels  # not one donut of dollars, counts and percentages


def test_figures_keep_their_scale_suffix() -> None:
    """'$1.2M' and '$900K' are read whole, so a chart label never drops the M or the K."""
    assert numbers_in("Revenue $1.2M, costs $900K") == (("$1.2M", 1.2), ("$900K", 900.0))


def test_bars_follow_the_figures() -> None:
    """A bar chart's bars grow with the values in the text."""
    layout = layout_slide(_slide("- A: 10\n- B: 20\n- C: 40", "bar chart"), "", WIDE)
    bars = [s for s in layout.shapes if s.kind is ShapeKind.ROUNDED and s.box.width < 400]
    heights = [b.box.height for b in bars][-3:]
    assert heights[0] < heights[1] < heights[2]
