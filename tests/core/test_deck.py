"""Deck input: JSON and Markdown parsing, completion, and one clear error per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.deck import SlideDraft, complete_slides, looks_like_ending, parse_deck
from slidebatch.core.slide import SlideType
from slidebatch.errors import InputError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _error(text: str, **kwargs: object) -> str:
    with pytest.raises(InputError) as info:
        parse_deck(text, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_json_batch_request_is_parsed_with_all_fields() -> None:
    """The seed's request shape yields slides, style, aspect ratio, workers and title."""
    deck = parse_deck(
        '{"slides": [{"id": "a", "page_num": 7, "type": "content", "title": "T",'
        ' "content_text": "c", "visual_desc": "v"}], "style_prompt": "navy",'
        ' "max_workers": 3, "aspect_ratio": "4:3", "title": "Deck"}'
    )
    assert deck.slides[0].id == "a"
    assert deck.slides[0].page_num == 7
    assert deck.slides[0].type is SlideType.CONTENT
    assert (deck.slides[0].content_text, deck.slides[0].visual_desc) == ("c", "v")
    assert deck.style_prompt == "navy"
    assert deck.max_workers == 3
    assert deck.aspect_ratio == AspectRatio(4, 3)
    assert deck.title == "Deck"


def test_bare_json_list_fills_ids_pages_and_types() -> None:
    """A bare list gets ids slide-N, page numbers by position, cover first, ending last."""
    deck = parse_deck('[{"title": "Hello"}, {"title": "Body"}, {"title": "Thank you!"}]')
    assert [s.id for s in deck.slides] == ["slide-1", "slide-2", "slide-3"]
    assert [s.page_num for s in deck.slides] == [1, 2, 3]
    assert [s.type for s in deck.slides] == [SlideType.COVER, SlideType.CONTENT, SlideType.ENDING]
    assert deck.style_prompt is None
    assert deck.aspect_ratio is None
    assert deck.max_workers is None


def test_max_workers_auto_is_kept_distinct_from_absent() -> None:
    """'auto' stays 'auto' so the caller can tell it from an absent field."""
    assert parse_deck('{"slides": [{"title": "x"}], "max_workers": "auto"}').max_workers == "auto"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"slides": [\n  {"title": "a"}\n  {"title": "b"}]}', "invalid JSON at line 3, column 3"),
        ("{}", "missing field 'slides'"),
        ('{"slides": []}', "the deck has no slides"),
        ('{"slides": {}}', "'slides' must be a list, got an object"),
        ('[{"title": "a"}, {"content_text": "b"}]', "slide 2 has no title"),
        ('[{"title": "a"}, {"title": "   "}]', "slide 2 has no title"),
        ('[{"title": 5}]', "slide 1: 'title' must be a string, got the number 5"),
        ('[{"title": "a", "content_text": {"x": 1}}]', "'content_text' must be a string"),
        ('[{"title": "a", "visual_desc": 3}]', "'visual_desc' must be a string"),
        ('[{"title": "a", "page_num": 0}]', "'page_num' must be a positive integer, got 0"),
        ('[{"title": "a", "page_num": true}]', "'page_num' must be a positive integer"),
        ('[{"title": "a", "type": "intro"}]', "'type' must be one of cover, content, ending"),
        ('[{"title": "a", "id": ""}]', "'id' must be a non-empty string"),
        ('[{"title": "a", "id": "x"}, {"title": "b", "id": "x"}]', "duplicate slide id 'x'"),
        ('[{"title": "a", "titel": "b"}]', "slide 1 has unknown field 'titel'"),
        ("[1]", "slide 1 must be an object, got the number 1"),
        ('{"slides": [{"title": "a"}], "aspect_ratio": "wide"}', "aspect_ratio 'wide' is not"),
        ('{"slides": [{"title": "a"}], "aspect_ratio": 1.5}', "'aspect_ratio' must be a string"),
        ('{"slides": [{"title": "a"}], "max_workers": 0}', "'max_workers' must be a positive"),
        ('{"slides": [{"title": "a"}], "max_workers": "many"}', "positive integer or 'auto'"),
        ('{"slides": [{"title": "a"}], "style_prompt": 3}', "'style_prompt' must be a string"),
    ],
)
def test_bad_json_gives_one_message_naming_source_and_place(text: str, expected: str) -> None:
    """Each bad JSON deck raises InputError naming the file and what is wrong where."""
    message = _error(text, source="deck.json")
    assert message.startswith("deck.json: ")
    assert expected in message


def test_invalid_json_message_has_line_column_and_reason() -> None:
    """Malformed JSON quotes the parser's line, column and reason."""
    message = _error('{\n  "slides": [\n    {"title" "a"}\n  ]\n}', source="deck.json")
    assert message == "deck.json: invalid JSON at line 3, column 14: Expecting ':' delimiter"


MARKDOWN = """\
---
title: Quarterly review
style: >
  corporate, deep blue #1A365D
  with gold accents
aspect: 9:16
max_workers: 4
---

# Welcome

Opening line
visual: a skyline

---

## Results ##

- first point
- second point


  - nested point
<!-- a bar chart
     rising -->
Visual: with arrows
type: content

---

# Section
type: ending
"""


def test_markdown_front_matter_and_slides() -> None:
    """Front matter sets the deck fields; headings, bodies, visuals and types are read."""
    deck = parse_deck(MARKDOWN, source="deck.md")
    assert deck.title == "Quarterly review"
    assert deck.style_prompt == "corporate, deep blue #1A365D with gold accents"
    assert deck.aspect_ratio == AspectRatio(9, 16)
    assert deck.max_workers == 4
    first, second, third = deck.slides
    assert (first.title, first.content_text, first.visual_desc) == (
        "Welcome",
        "Opening line",
        "a skyline",
    )
    assert first.type is SlideType.COVER
    assert second.title == "Results"
    assert second.content_text == "- first point\n- second point\n\n  - nested point"
    assert second.visual_desc == "a bar chart rising with arrows"
    assert third.type is SlideType.ENDING
    assert third.page_num == 3


def test_markdown_without_front_matter_and_chinese_visual() -> None:
    """A deck may start with a slide; 画面： lines are visual descriptions."""
    deck = parse_deck("# 封面\n副标题\n画面：城市\n---\n# 谢谢\n")
    assert deck.slides[0].visual_desc == "城市"
    assert deck.slides[0].content_text == "副标题"
    assert deck.slides[1].type is SlideType.ENDING


def test_markdown_separator_inside_code_fence_does_not_split() -> None:
    """A '---' inside a fenced block is content, not a slide break."""
    deck = parse_deck("# A\n```\n---\n```\n---\n# B\n")
    assert len(deck.slides) == 2
    assert "---" in deck.slides[0].content_text


def test_markdown_trailing_separator_is_ignored() -> None:
    """An empty chunk after a final '---' is not a slide."""
    assert len(parse_deck("# A\n---\n# B\n---\n\n").slides) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# A\n---\njust text\n", "deck.md: slide 2 has no title"),
        ("", "deck.md: the deck has no slides"),
        ("---\ntitle: x\n---\n", "deck.md: the deck has no slides"),
        ("---\ncolour: red\n---\n# A\n", "front matter has unknown key 'colour'"),
        ("---\naspect_ratio: 16-9\n---\n# A\n", "deck.md: aspect_ratio '16-9' is not"),
        ("---\nmax_workers: -1\n---\n# A\n", "'max_workers' must be a positive integer"),
        ("# A\ntype: intro\n", "deck.md: slide 1: 'type' must be one of"),
    ],
)
def test_bad_markdown_gives_one_clear_message(text: str, expected: str) -> None:
    """Each bad Markdown deck raises InputError naming the file and the problem."""
    assert expected in _error(text, source="deck.md")


def test_format_can_be_forced() -> None:
    """fmt='markdown' reads a '[' line as Markdown, not JSON."""
    with pytest.raises(InputError, match="slide 1 has no title"):
        parse_deck("[not json]", fmt="markdown")
    assert _error("# A", fmt="json").startswith("deck: invalid JSON")
    assert "expected a JSON object with 'slides'" in _error('"text"', fmt="json")


@pytest.mark.parametrize(
    ("title", "ending"),
    [
        ("Thank you!", True),
        ("Thanks", True),
        ("Q&A", True),
        ("Any questions?", True),
        ("The End", True),
        ("谢谢观看", True),
        ("感谢聆听", True),
        ("Open questions for Q3", False),
        ("Next steps", False),
        ("Summary", False),
    ],
)
def test_ending_detection(title: str, ending: bool) -> None:
    """Closing titles are recognised; ordinary titles that mention questions are not."""
    assert looks_like_ending(title) is ending


def test_last_slide_without_closing_title_stays_content() -> None:
    """A last slide with no closing words keeps its page number as a content slide."""
    slides = complete_slides([SlideDraft("Intro"), SlideDraft("Body"), SlideDraft("Summary")])
    assert slides[-1].type is SlideType.CONTENT


def test_single_slide_is_cover_and_explicit_types_win() -> None:
    """One slide is a cover; a given type is never overridden."""
    assert complete_slides([SlideDraft("Thanks")])[0].type is SlideType.COVER
    given = complete_slides([SlideDraft("A", type=SlideType.CONTENT), SlideDraft("Thanks")])
    assert given[0].type is SlideType.CONTENT


@pytest.mark.parametrize("name", ["deck-zh", "deck-en"])
def test_examples_parse_and_json_matches_markdown(name: str) -> None:
    """Each example deck parses in both formats to the same slides (ids aside)."""
    from_json = parse_deck((EXAMPLES / f"{name}.json").read_text("utf-8"), source=name)
    from_md = parse_deck((EXAMPLES / f"{name}.md").read_text("utf-8"), source=name)
    assert len(from_json.slides) == 5
    assert [s.type for s in from_json.slides] == [
        SlideType.COVER,
        *[SlideType.CONTENT] * 3,
        SlideType.ENDING,
    ]

    def strip_id(deck: object) -> list[tuple[object, ...]]:
        return [
            (s.page_num, s.type, s.title, s.content_text, s.visual_desc)
            for s in deck.slides  # type: ignore[attr-defined]
        ]

    assert strip_id(from_json) == strip_id(from_md)
    assert from_json.style_prompt == from_md.style_prompt
    assert from_json.aspect_ratio == from_md.aspect_ratio == AspectRatio(16, 9)
