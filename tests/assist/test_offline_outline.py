"""The offline outline: headings, paragraphs and lists, cut or merged to the slide count."""

from __future__ import annotations

from pathlib import Path

import pytest

from slidebatch.assist.offline_outline import inserted_slide, is_chinese, outline
from slidebatch.core.slide import SlideType
from slidebatch.errors import InputError

REPORT = """# 季度报告

## 业绩
- 收入增长 20%
- 利润翻倍
- 新客户 300 家

## 挑战
供应链紧张。人员流动较大。

## 计划
1. 扩张华南
2. 上线新产品
"""


def test_headings_become_slides_between_cover_and_ending() -> None:
    """Five slides from three sections: cover (H1), one per H2 with its points, ending."""
    slides = outline(REPORT, 5)
    assert [s.type for s in slides] == [
        SlideType.COVER,
        SlideType.CONTENT,
        SlideType.CONTENT,
        SlideType.CONTENT,
        SlideType.ENDING,
    ]
    assert [s.page_num for s in slides] == [1, 2, 3, 4, 5]
    assert [s.title for s in slides] == ["季度报告", "业绩", "挑战", "计划", "谢谢观看"]
    assert slides[1].content_text == "收入增长 20%\n利润翻倍\n新客户 300 家"
    assert slides[2].content_text == "供应链紧张\n人员流动较大"
    assert slides[0].content_text == "业绩 · 挑战 · 计划"
    assert all(s.visual_desc for s in slides)


def test_fewer_slides_merge_the_smallest_neighbours() -> None:
    """Four slides: two content slides, the smaller pair merged, its title kept as a point."""
    slides = outline(REPORT, 4)
    assert [s.title for s in slides] == ["季度报告", "业绩", "挑战", "谢谢观看"]
    points = ["供应链紧张", "人员流动较大", "计划", "扩张华南", "上线新产品"]
    assert slides[2].content_text.splitlines() == points


def test_more_slides_split_the_fullest_section() -> None:
    """Six slides: the section with most points is split in two, '（续）' on the second."""
    slides = outline(REPORT, 6)
    assert [s.title for s in slides[1:5]] == ["业绩", "业绩（续）", "挑战", "计划"]
    assert slides[1].content_text == "收入增长 20%\n利润翻倍"
    assert slides[2].content_text == "新客户 300 家"


def test_a_short_document_gives_fewer_slides_not_empty_ones() -> None:
    """Asking for 30 slides of a three-point document gives what the points can fill."""
    slides = outline("- one\n- two\n- three", 30)
    assert len(slides) == 4
    assert all(s.title for s in slides)


@pytest.mark.parametrize("count", [1, 2, 3, 8, 40])
def test_never_more_than_asked(count: int) -> None:
    """Whatever the count, at most that many slides, numbered from 1."""
    slides = outline(REPORT * 5, count)
    assert 1 <= len(slides) <= count
    assert [s.page_num for s in slides] == list(range(1, len(slides) + 1))
    assert slides[0].type is SlideType.COVER


def test_plain_paragraphs_without_headings() -> None:
    """Each paragraph is a section titled by its first sentence; English gets English text."""
    text = (
        "Revenue grew by a fifth. Margins doubled.\n\n"
        "Hiring is hard. Churn is high.\n\nNext we expand south."
    )
    slides = outline(text, 5)
    assert [s.title for s in slides] == [
        "Revenue grew by a fifth",
        "Revenue grew by a fifth",
        "Hiring is hard",
        "Next we expand south",
        "Thank you",
    ]
    assert slides[2].content_text == "Churn is high"
    assert "Title" in slides[2].visual_desc


def test_the_seed_frontend_s_markers_pick_the_original_document() -> None:
    """Only the 【原始文档】 part is outlined, not the earlier outline or the notes."""
    text = "【原始文档】\n" + REPORT + "\n【上一版大纲】\n第1页 旧的\n\n【修改意见】\n多一点数据"
    titles = [s.title for s in outline(text, 5)]
    assert titles == ["季度报告", "业绩", "挑战", "计划", "谢谢观看"]


def test_colon_labels_open_sections() -> None:
    """A short line ending in a colon is a heading too."""
    slides = outline("背景：\n市场变化快。\n方案：\n- 自动化\n- 数据驱动", 4)
    assert [s.title for s in slides[1:3]] == ["背景", "方案"]


def test_inserted_slide_from_a_description() -> None:
    """The user's first sentence is the title; the rest are the points."""
    slide = inserted_slide("客户案例：交付周期缩短 30%。三个月完成上线。", 3, before="业绩")
    assert (slide.page_num, slide.type) == (3, SlideType.CONTENT)
    assert slide.title == "客户案例：交付周期缩短 30%"
    assert slide.content_text == "三个月完成上线"
    assert "业绩" in slide.visual_desc
    assert is_chinese(slide.title)


README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("count", [5, 8, 12, 20])
def test_the_readme_s_slides_are_titled_by_its_headings(count: int) -> None:
    """Every content title of the README's outline is one of its headings, never a paragraph."""
    text = README.read_text(encoding="utf-8")
    headings = {
        line.lstrip("#").strip().replace("`", "") for line in text.splitlines() if line[:2] in "##"
    }
    slides = outline(text, count)
    assert slides[0].title == "slidebatch"
    assert slides[0].content_text.startswith("Turn a deck outline plus one style prompt")
    for slide in slides[1:-1]:
        title = slide.title.removesuffix(" (cont.)").removesuffix("…")
        assert any(h.startswith(title) for h in headings), slide.title
        assert "```" not in slide.content_text
        assert "|---" not in slide.content_text


def test_a_wrapped_line_ending_in_a_colon_is_no_heading() -> None:
    """A wrapped sentence's last line 'parallel items):' names no section."""
    text = "# Deck\n\n## Pictures\nBefore and after, for the decks with\nthree parallel items):\n"
    slides = outline(text, 3)
    assert [s.title for s in slides] == ["Deck", "Pictures", "Thank you"]


def test_code_blocks_and_tables_are_no_slide_text() -> None:
    """Fenced code, table rows and images stay out of the points."""
    text = "# Deck\n\n## Run\nInstall it.\n```bash\npip install x\n```\n| a | b |\n![x](y.png)\n"
    assert outline(text, 3)[1].content_text == "Install it"


def test_a_long_first_sentence_is_cut_to_its_first_clause() -> None:
    """Without headings a paragraph's title is its first clause, not the whole sentence."""
    text = (
        "Our renderer draws every slide locally, in the colours of the style prompt, "
        "with layouts chosen by content.\n\nExports follow."
    )
    slides = outline(text, 4)
    assert slides[1].title == "Our renderer draws every slide locally"


def test_identifiers_keep_their_underscores() -> None:
    """`batch_id` stays batch_id; only emphasis marks are dropped."""
    slides = outline("# Deck\n\n## Ids\n- **Each** `batch_id` is _kept_\n", 3)
    assert slides[1].content_text == "Each batch_id is kept"


@pytest.mark.parametrize(
    ("document", "title"),
    [
        ("| Region | Sales |\n|---|---|\n| North | 12 |\n| South | 9 |", "Region · Sales"),
        ("```python\n# Load the quarterly numbers\nx = load()\n```", "Load the quarterly numbers"),
        ("![a chart of revenue](chart.png)", "a chart of revenue"),
        ("<b>hi there</b>", "hi there"),
        ('<img alt="a chart">', "a chart"),
    ],
)
def test_a_document_without_prose_is_outlined_from_the_text_it_has(
    document: str, title: str
) -> None:
    """Only a table, code, an image or HTML: its cells, comments, alt text or text make the deck."""
    slides = outline(document, 4)
    assert slides[0].title == title
    assert slides[1].content_text
    assert "Presentation" not in [s.title for s in slides]


def test_a_document_without_any_text_is_refused() -> None:
    """Code without a comment has nothing to outline offline: InputError, not an empty deck."""
    with pytest.raises(InputError, match="no text to outline"):
        outline("```\nx = 1\n```", 4)


def test_front_matter_gives_the_title_and_is_no_slide_text() -> None:
    """A leading YAML block's title is the cover's; its lines are nowhere in the slides."""
    slides = outline("---\ntitle: Deck\nauthor: Ann\n---\nHello world", 3)
    assert [s.title for s in slides] == ["Deck", "Hello world", "Thank you"]
    assert not any("---" in s.content_text or "author" in s.content_text for s in slides)
