"""Outlines in slidebatch's Markdown deck format (``core/deck.py`` reads it), and back.

The offline method and the model both end in ``OutlineSlide``s (the seed's fields): the CLI
prints them as Markdown, the fake upstream's chat model answers with them, and a model's
Markdown answer is read back into them.
"""

from __future__ import annotations

from collections.abc import Sequence

from slidebatch.assist.offline_outline import OutlineSlide
from slidebatch.core.deck import DeckInput


def outline_markdown(slides: Sequence[OutlineSlide]) -> str:
    """``slides`` as Markdown: one ``# title`` block per slide, split by ``---``."""
    blocks = []
    for slide in slides:
        lines = [f"# {slide.title}"]
        lines += [line for line in slide.content_text.splitlines() if line.strip()]
        if slide.visual_desc:
            lines.append(f"visual: {' '.join(slide.visual_desc.split())}")
        lines.append(f"type: {slide.type}")
        blocks.append("\n".join(lines))
    return "\n---\n".join(blocks) + "\n"


def outline_slides(deck: DeckInput) -> list[OutlineSlide]:
    """A parsed deck's slides as outline slides, numbered from 1 in order."""
    return [
        OutlineSlide(
            page_num=n,
            type=slide.type,
            title=slide.title,
            content_text=slide.content_text,
            visual_desc=slide.visual_desc,
        )
        for n, slide in enumerate(deck.slides, start=1)
    ]
