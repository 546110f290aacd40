"""A deck outline from a document, written by the configured chat model and validated.

The model is asked for slidebatch's Markdown deck (``core/deck.py``): slides split by ``---``,
each a ``# title``, body lines and a ``visual:`` line. Its text is passed on as it arrives
(``on_text``), then parsed; an answer that does not parse, or has the wrong number of slides,
is sent back once with what is wrong. A second bad answer is a clear error (502), never a
half-read deck. ``write_outline`` is the one entry the CLI and the seed's ``/outline/*``
share: the model when there is one, else the offline method (``offline_outline``).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import replace
from typing import Any

import httpx

from slidebatch.assist.chat import ChatModel, OnText, chat_text, user_message
from slidebatch.assist.front_matter import split_front_matter
from slidebatch.assist.markdown import outline_slides
from slidebatch.assist.offline_outline import OutlineSlide, inserted_slide, outline
from slidebatch.core.deck import DeckInput, parse_deck
from slidebatch.core.slide import SlideType
from slidebatch.errors import InputError, PermanentProviderError

# The one limit on a document to outline: OutlineIn.text's max_length, the CLI's check.
# Longer is refused naming it, never cut (a cut deck silently misses the document's end).
MAX_DOCUMENT_CHARS = 200_000
MAX_OUTLINE_SLIDES = 60
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)

OUTLINE_INSTRUCTION = """You write presentation outlines. Turn the document below into a deck
of exactly {slides} slides: a cover first, content slides, an ending last. Answer ONLY in this
Markdown format, nothing before or after it:

# Cover title
one line subtitle
visual: what the cover image shows
---
# Slide title
- point
- point
visual: what the slide's image shows
---
# Thank you
visual: a calm closing image

Write in the document's language. The document:

{document}"""

INSERT_INSTRUCTION = """You write one slide to insert into a presentation, between
"{before}" and "{after}". Write exactly 1 slide about what the user describes, in the
deck's language, in this Markdown format and nothing else:

# Slide title
- point
- point
visual: what the slide's image shows

The document:

{document}"""

REPAIR = """Your answer could not be used: {problem}
Write the whole outline again, exactly {slides} slides, in the Markdown format asked for
(slides separated by lines of three dashes, each starting with '# title'). Nothing else."""


def check_document(document: str, slides: int) -> str:
    """The document trimmed; ``InputError`` for an empty one, one over ``MAX_DOCUMENT_CHARS``
    or a slide count out of range."""
    text = document.strip()
    if len(text) > MAX_DOCUMENT_CHARS:
        raise InputError(
            f"the document has {len(text)} characters; the limit is {MAX_DOCUMENT_CHARS}"
        )
    if not text:
        raise InputError("the document is empty; give some text to outline")
    if not _has_words(text):
        raise InputError(
            "the document is empty (only comments, separators or front matter); "
            "give some text to outline"
        )
    if not 1 <= slides <= MAX_OUTLINE_SLIDES:
        raise InputError(f"slides must be between 1 and {MAX_OUTLINE_SLIDES}")
    return text


def _has_words(text: str) -> bool:
    """True when ``text`` has a letter, digit or symbol (an emoji) outside HTML comments and
    a leading YAML front matter block.

    ``<!-- -->`` or ``---\n---`` is no document: an outline of it would be a made-up deck.
    """
    _, body = split_front_matter(_COMMENT.sub("", text))
    return any(char.isalnum() or unicodedata.category(char) == "So" for char in body)


async def write_outline(
    client: httpx.AsyncClient,
    model: ChatModel | None,
    document: str,
    slides: int,
    *,
    on_text: OnText | None = None,
) -> list[OutlineSlide]:
    """The outline of ``document`` in at most ``slides`` slides (exactly that many from a model).

    ``InputError`` (4xx) for an empty document or a count out of range, before any call; the
    model's failures are its typed ``ProviderError``s (5xx).
    """
    text = check_document(document, slides)
    if model is None:
        return await asyncio.to_thread(outline, text, slides)
    deck = await model_outline(client, model, text, slides, on_text=on_text)
    return outline_slides(deck)


async def write_slide(
    client: httpx.AsyncClient,
    model: ChatModel | None,
    request: str,
    page_num: int,
    *,
    before: str | None = None,
    after: str | None = None,
) -> OutlineSlide:
    """One content slide from the user's description of it, to insert at ``page_num``."""
    text = check_document(request, 1)
    if model is None:
        return inserted_slide(text, page_num, before=before, after=after)
    prompt = INSERT_INSTRUCTION.format(before=before or "-", after=after or "-", document=text)
    deck = await _model_deck(client, model, [user_message(prompt)], 1, None)
    (slide,) = outline_slides(deck)
    return replace(slide, page_num=page_num, type=SlideType.CONTENT)


async def model_outline(
    client: httpx.AsyncClient,
    model: ChatModel,
    document: str,
    slides: int,
    *,
    on_text: OnText | None = None,
) -> DeckInput:
    """The model's outline of ``document`` as a deck of ``slides`` slides."""
    text = check_document(document, slides)
    prompt = OUTLINE_INSTRUCTION.format(slides=slides, document=text)
    return await _model_deck(client, model, [user_message(prompt)], slides, on_text)


async def _model_deck(
    client: httpx.AsyncClient,
    model: ChatModel,
    messages: list[dict[str, Any]],
    slides: int,
    on_text: OnText | None,
) -> DeckInput:
    """The model's answer to ``messages`` as a deck of ``slides``, repaired once if need be."""
    problem = ""
    for _ in range(2):
        answer = await chat_text(client, model, messages, on_text=on_text)
        try:
            return _validated(answer, slides)
        except InputError as exc:
            problem = exc.message
        messages += [
            {"role": "assistant", "content": answer},
            user_message(REPAIR.format(problem=problem, slides=slides)),
        ]
    raise PermanentProviderError(
        f"the chat model's outline could not be read, also after one repair: {problem}"
    )


def _validated(answer: str, slides: int) -> DeckInput:
    body = _unfenced(answer)
    if not body:
        raise InputError("the answer was empty")
    deck = parse_deck(body, fmt="markdown", source="the model's outline")
    if len(deck.slides) != slides:
        raise InputError(f"it has {len(deck.slides)} slides, not {slides}")
    return deck


def _unfenced(answer: str) -> str:
    """The answer without a surrounding ```markdown fence, which models like to add."""
    lines = answer.strip().splitlines()
    if lines and lines[0].startswith("```"):
        lines = lines[1:]
        if lines and lines[-1].strip().startswith("```"):
            lines = lines[:-1]
    return "\n".join(lines).strip()
