"""The prompt an image model receives for one slide: a pure function tests pin down.

Style prompt + the slide's visual description + the exact text to draw + the output
requirements (aspect ratio, legible text, no watermark). Instructions follow the
content's language, because models draw text better when asked in its language.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide, SlideType


class Language(StrEnum):
    EN = "en"
    ZH = "zh"


def detect_language(*texts: str) -> Language:
    """Chinese when CJK ideographs are at least a fifth of the letters, else English."""
    # Without an ideograph the answer is English whatever the letters: most decks stop at
    # this search. Else counted by the regex engine and str methods, not a Python loop over
    # every character (a submit of 20 slides walked about 2,000 characters per slide).
    if not any(_CJK.search(text) for text in texts):
        return Language.EN
    cjk = letters = 0
    for text in texts:
        ideographs = len(_CJK.findall(text))
        cjk += ideographs
        letters += ideographs + sum(map(str.isalpha, _CJK.sub("", text)))
    return Language.ZH if letters and cjk * 5 >= letters else Language.EN


_CJK = re.compile("[\u4e00-\u9fff\u3400-\u4dbf]")


_LAYOUT = {
    Language.EN: {
        SlideType.COVER: "a cover slide: the title large and centred, a strong visual",
        SlideType.CONTENT: "a content slide: the title at the top, the points laid out clearly",
        SlideType.ENDING: "a closing slide: the message large and centred, calm and uncluttered",
    },
    Language.ZH: {
        SlideType.COVER: "封面页：标题大而居中，视觉冲击力强",
        SlideType.CONTENT: "内容页：标题在顶部，要点排版清晰",
        SlideType.ENDING: "结束页：主信息大而居中，简洁从容",
    },
}

_TEXT = {
    Language.EN: {
        "intro": "Create one presentation slide image.",
        "style": "Visual style",
        "layout": "Layout",
        "visual": "Visual description",
        "title": "Title (draw exactly)",
        "content": "Body text (draw exactly)",
        "page": "Page number",
        "requirements": "Requirements",
        "reqs": (
            "Aspect ratio exactly {ratio}, landscape or portrait as the ratio says, full bleed.",
            "All text must be spelled exactly as given, sharp and easily readable.",
            "No watermark, no logo, no signature, no frame around the slide.",
            "Do not add any text that is not given above.",
        ),
    },
    Language.ZH: {
        "intro": "生成一张演示文稿幻灯片图片。",
        "style": "视觉风格",
        "layout": "版式",
        "visual": "画面描述",
        "title": "标题（逐字绘制）",
        "content": "正文（逐字绘制）",
        "page": "页码",
        "requirements": "要求",
        "reqs": (
            "画面比例严格为 {ratio}，铺满整个画面。",
            "所有文字必须与给定内容完全一致，清晰易读，不得有错别字。",
            "不要水印、不要标志、不要签名、不要边框。",
            "不要添加上面没有给出的任何文字。",
        ),
    },
}


def build_prompt(slide: Slide, style_prompt: str, aspect_ratio: AspectRatio) -> str:
    """The final prompt for ``slide``; same input, same output, always."""
    language = detect_language(slide.title, slide.content_text, slide.visual_desc)
    words = _TEXT[language]
    lines = [str(words["intro"]), ""]
    if style_prompt.strip():
        lines += [f"{words['style']}: {style_prompt.strip()}"]
    lines += [f"{words['layout']}: {_LAYOUT[language][slide.type]}"]
    if slide.visual_desc.strip():
        lines += [f"{words['visual']}: {slide.visual_desc.strip()}"]
    lines += ["", f"{words['title']}: {slide.title.strip()}"]
    if slide.content_text.strip():
        lines += [f"{words['content']}:", slide.content_text.strip()]
    if slide.type is SlideType.CONTENT:
        lines += [f"{words['page']}: {slide.page_num}"]
    lines += ["", f"{words['requirements']}:", _requirements(language, aspect_ratio)]
    return "\n".join(lines)


@functools.lru_cache(maxsize=64)
def _requirements(language: Language, aspect_ratio: AspectRatio) -> str:
    """The requirement lines, the same for every slide of a batch (built once per ratio)."""
    return "\n".join(f"- {req.format(ratio=aspect_ratio)}" for req in _TEXT[language]["reqs"])
