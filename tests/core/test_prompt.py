"""The prompt of a slide: its language follows the content, its requirements name the ratio."""

from __future__ import annotations

import pytest

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.prompt import Language, build_prompt, detect_language
from slidebatch.core.slide import Slide, SlideType


def _slide(title: str, content: str = "", kind: SlideType = SlideType.CONTENT) -> Slide:
    return Slide(id="s", page_num=3, type=kind, title=title, content_text=content, visual_desc="")


@pytest.mark.parametrize(
    ("texts", "language"),
    [
        (("Quarterly results", "Revenue grew"), Language.EN),
        (("季度业绩", "收入增长"), Language.ZH),
        (("", ""), Language.EN),
        (("１２３", "!!"), Language.EN),  # no letters at all
        (("中" * 3 + "a" * 12,), Language.ZH),  # ideographs a fifth of the letters
        (("中" * 3 + "a" * 13,), Language.EN),  # just under a fifth
        (("Plan", "计划"), Language.ZH),  # counted over every text together
    ],
)
def test_language_follows_the_share_of_ideographs(
    texts: tuple[str, ...], language: Language
) -> None:
    """Chinese when CJK ideographs are at least a fifth of the letters of all texts."""
    assert detect_language(*texts) is language


def test_an_english_slide_gets_english_instructions_with_its_ratio() -> None:
    """Instructions, layout and requirements in English; the ratio in the requirement line."""
    prompt = build_prompt(_slide("Roadmap", "Three phases"), "flat", AspectRatio.parse("4:3"))
    assert prompt.startswith("Create one presentation slide image.")
    assert "Visual style: flat" in prompt
    assert "Title (draw exactly): Roadmap" in prompt
    assert "Page number: 3" in prompt
    assert "- Aspect ratio exactly 4:3, landscape or portrait as the ratio says" in prompt
    assert prompt.endswith("- Do not add any text that is not given above.")


def test_a_chinese_slide_gets_chinese_instructions_and_each_ratio_its_own() -> None:
    """A Chinese cover is asked in Chinese; two ratios give two requirement lines."""
    wide = build_prompt(_slide("年度总结", kind=SlideType.COVER), "", AspectRatio.parse("16:9"))
    square = build_prompt(_slide("年度总结", kind=SlideType.COVER), "", AspectRatio.parse("1:1"))
    assert wide.startswith("生成一张演示文稿幻灯片图片。")
    assert "页码" not in wide  # a cover has no page number
    assert "画面比例严格为 16:9" in wide
    assert "画面比例严格为 1:1" in square
    assert "16:9" not in square
