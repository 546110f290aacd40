"""A deck written back as slidebatch's Markdown deck format (``core/deck.py`` reads it)."""

from __future__ import annotations

from slidebatch.core.deck import DeckInput


def deck_markdown(deck: DeckInput) -> str:
    """``deck`` as Markdown: one ``# title`` block per slide, split by ``---``."""
    blocks = []
    for slide in deck.slides:
        lines = [f"# {slide.title}"]
        if slide.content_text:
            lines.append(slide.content_text)
        if slide.visual_desc:
            lines.append(f"visual: {' '.join(slide.visual_desc.split())}")
        lines.append(f"type: {slide.type}")
        blocks.append("\n".join(lines))
    return "\n---\n".join(blocks) + "\n"
