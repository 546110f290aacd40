"""One slide's request as the scheduler sees it."""

from __future__ import annotations

from dataclasses import dataclass

from slidebatch.providers.base import ImageRequest


@dataclass(frozen=True, slots=True)
class Job:
    """One slide to generate; the counters travel with it so a resumed slide keeps them."""

    batch_id: str
    slide_key: int
    request: ImageRequest
    attempts: int = 0  # paid attempts already made
    requeues: int = 0  # 429 requeues already made
