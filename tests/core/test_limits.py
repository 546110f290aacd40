from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from slidebatch.config import load_settings
from slidebatch.core.limits import InputLimits, check_batch_request, check_slide, check_text
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.errors import InputError, LimitExceeded

SMALL = InputLimits(
    max_slides=3,
    max_title_chars=10,
    max_content_chars=20,
    max_visual_desc_chars=15,
    max_style_prompt_chars=25,
    max_slide_id_chars=5,
    max_body_bytes=1000,
)


def _slide(**changes: Any) -> Slide:
    base = Slide(id="s1", page_num=1, type=SlideType.CONTENT, title="标题", content_text="正文")
    return replace(base, **changes)


def _request(**changes: Any) -> BatchRequest:
    base = BatchRequest(slides=(_slide(),), style_prompt="flat")
    return replace(base, **changes)


def test_a_request_within_every_limit_passes() -> None:
    """A request at exactly every limit is accepted."""
    slide = _slide(id="x" * 5, title="t" * 10, content_text="c" * 20, visual_desc="v" * 15)
    check_batch_request(_request(slides=(slide,) * 3, style_prompt="s" * 25, title="t" * 10), SMALL)


@pytest.mark.parametrize(
    ("request_", "limit_name", "limit", "field"),
    [
        (_request(slides=(_slide(),) * 4), "BATCH_MAX_SLIDES", 3, "4"),
        (_request(style_prompt="s" * 26), "MAX_STYLE_PROMPT_CHARS", 25, "style_prompt"),
        (_request(title="t" * 11), "MAX_TITLE_CHARS", 10, "title"),
        (_request(slides=(_slide(id="x" * 6),)), "MAX_SLIDE_ID_CHARS", 5, "slides[0].id"),
        (_request(slides=(_slide(title="题" * 11),)), "MAX_TITLE_CHARS", 10, "slides[0].title"),
        (
            _request(slides=(_slide(), _slide(content_text="c" * 21))),
            "MAX_CONTENT_CHARS",
            20,
            "slides[1].content_text",
        ),
        (
            _request(slides=(_slide(visual_desc="v" * 16),)),
            "MAX_VISUAL_DESC_CHARS",
            15,
            "slides[0].visual_desc",
        ),
    ],
)
def test_each_limit_names_itself(
    request_: BatchRequest, limit_name: str, limit: int, field: str
) -> None:
    """Going one past any limit raises LimitExceeded naming the setting, its value and the field."""
    with pytest.raises(LimitExceeded) as caught:
        check_batch_request(request_, SMALL)
    assert caught.value.limit_name == limit_name
    assert caught.value.limit == limit
    assert limit_name in str(caught.value)
    assert field in str(caught.value)
    assert isinstance(caught.value, InputError)


def test_characters_are_counted_not_bytes() -> None:
    """Chinese text is measured in characters, so CJK decks get the same room as English."""
    check_slide(_slide(title="标" * 10), SMALL)


def test_check_text_guards_a_lone_field() -> None:
    """A regenerate request's new visual_desc is checked against MAX_VISUAL_DESC_CHARS."""
    with pytest.raises(LimitExceeded, match="MAX_VISUAL_DESC_CHARS"):
        check_text("visual_desc", "v" * 16, "MAX_VISUAL_DESC_CHARS", SMALL)


def test_check_text_refuses_an_unknown_limit_name() -> None:
    """A typo in a limit name is a programming error, not a silent pass."""
    with pytest.raises(ValueError, match="MAX_NOPE_CHARS"):
        check_text("x", "", "MAX_NOPE_CHARS", SMALL)


def test_from_settings_reads_every_limit() -> None:
    """InputLimits.from_settings takes each value from its setting."""
    settings = load_settings(
        batch_max_slides=7,
        max_title_chars=11,
        max_content_chars=12,
        max_visual_desc_chars=13,
        max_style_prompt_chars=14,
        max_slide_id_chars=15,
        max_body_bytes=16,
    )
    assert InputLimits.from_settings(settings) == InputLimits(7, 11, 12, 13, 14, 15, 16)


def test_defaults_match_the_settings_defaults() -> None:
    """The dataclass defaults and the settings defaults cannot drift apart."""
    assert InputLimits.from_settings(load_settings()) == InputLimits()
