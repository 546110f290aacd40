"""Batches for the fleet store tests: a deck of plain content slides stored as one batch."""

from __future__ import annotations

from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.storage.database import Database


def deck(count: int) -> BatchRequest:
    """``count`` content slides ``s0``..``s<count-1>`` in the 'flat' style."""
    slides = tuple(
        Slide(f"s{i}", i + 1, SlideType.CONTENT, f"title {i}", f"point {i}", "a chart")
        for i in range(count)
    )
    return BatchRequest(slides=slides, style_prompt="flat")


async def stored_batch(db: Database, slides: int, workers: int | None = None) -> str:
    """The id of a new batch of ``deck(slides)`` with ``workers`` as its concurrency cap."""
    record, _ = await db.batches.create_batch(
        request=deck(slides),
        final_prompts=[f"p{i}" for i in range(slides)],
        effective_workers=workers,
        owner=None,
        idempotency_key=None,
    )
    return record.id
