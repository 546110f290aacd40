"""Helpers for the storage tests: a stepping clock and a small deck."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slidebatch.core.slide import BatchRequest, Slide, SlideType

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


class SteppingClock:
    """Each call returns a time one second after the previous one (creation order = time)."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def __call__(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current


def deck(count: int = 3, *, title: str = "") -> BatchRequest:
    """A deck of ``count`` slides: a cover, then content slides."""
    slides = tuple(
        Slide(
            id=f"client-{i}",
            page_num=i + 1,
            type=SlideType.COVER if i == 0 else SlideType.CONTENT,
            title=f"标题 {i}",
            content_text=f"point {i}",
            visual_desc=f"picture {i}",
        )
        for i in range(count)
    )
    return BatchRequest(slides=slides, style_prompt="flat, blue", max_workers=7, title=title)
