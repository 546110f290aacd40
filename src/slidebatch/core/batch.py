"""What the system knows about a stored batch and its slides: plain values, no ORM rows.

Storage returns these; the engine, API, CLI and exporters read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.slide import Slide
from slidebatch.core.states import BatchState, SlideState


@dataclass(frozen=True, slots=True)
class SlideRecord:
    """One slide of a stored batch, with where it stands.

    ``key`` is the server's own identifier (unique in the batch, used for file names and
    URLs); ``slide.id`` is the client's string and is only echoed back.
    """

    batch_id: str
    key: int
    slide: Slide
    state: SlideState
    attempts: int = 0  # paid attempts so far
    requeues: int = 0  # 429 answers so far (not paid)
    image_file: str | None = None  # relative to the batch's image folder
    final_prompt: str = ""
    error_message: str | None = None
    generation_time: float | None = None  # seconds of the successful attempt
    cost: float | None = None  # USD the latest image cost (the provider's usage.cost)
    spent: float | None = None  # USD of every paid image, replaced ones and candidates too
    cost_estimated: bool = False  # ``cost`` is the model's price: the provider's was lost
    placeholder: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    warnings: tuple[str, ...] = ()  # what the image does not show as asked (cut text, tofu)


@dataclass(frozen=True, slots=True)
class BatchOrigin:
    """Where a CLI run writes a batch and which deck it is, so a re-run can resume it.

    ``output_key`` identifies the output folder; ``fingerprint`` the deck, style, aspect
    ratio and provider (see ``core/fingerprint.py``).
    """

    output_key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One stored batch: its request, its settings, and where it stands."""

    id: str
    state: BatchState
    style_prompt: str
    aspect_ratio: AspectRatio
    requested_workers: int | None  # what the client asked for (None: auto / absent)
    effective_workers: int | None  # after clamping (None: auto)
    total_slides: int
    created_at: datetime
    title: str = ""
    owner: str | None = None  # API key id; None when auth is off
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_requested: bool = False
    idempotency_key: str | None = None
    origin: BatchOrigin | None = None  # set when `slidebatch generate` made it
    max_cost: float | None = None  # USD cap (revision 0009): a restart guards it again
    stop_reason: str | None = None  # "max_cost": its cap stopped it (revision 0016)

    @property
    def total_time(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
