"""Request and response bodies of the HTTP API (pydantic lives here, at the edge only).

Field names are the seed system's, so its clients work unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.deck import SlideDraft, complete_slides
from slidebatch.core.slide import BatchRequest, SlideType
from slidebatch.errors import InputError

# Most caps on client input are InputLimits (settings); this one only keeps a number
# that is clamped anyway small enough to store.
MAX_REQUESTED_WORKERS = 1_000_000


def _storable(text: str) -> str:
    """Refuse text no database can store: NUL characters and lone UTF-16 surrogates."""
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    if any("\ud800" <= char <= "\udfff" for char in text):
        raise ValueError("text must be valid Unicode (no lone surrogates)")
    return text


Text = Annotated[str, AfterValidator(_storable)]


class SlideIn(BaseModel):
    """One slide as a client sends it; only ``title`` is required."""

    model_config = ConfigDict(extra="ignore")

    id: Text | int | None = Field(None, description="The client's id; echoed back as slide_id")
    page_num: Annotated[int, Field(ge=1, le=100_000)] | None = None
    type: SlideType | None = None
    title: Text = Field(..., description="Title drawn on the slide")
    content_text: Text = ""
    visual_desc: Text = ""

    def draft(self) -> SlideDraft:
        return SlideDraft(
            title=self.title,
            content_text=self.content_text,
            visual_desc=self.visual_desc,
            id=None if self.id is None else str(self.id),
            page_num=self.page_num,
            type=self.type,
        )


class BatchGenerateIn(BaseModel):
    """The seed's batch request."""

    model_config = ConfigDict(extra="ignore")

    slides: list[SlideIn] = Field(..., min_length=1)
    style_prompt: Text = ""
    max_workers: int | Literal["auto"] | None = Field(
        None,
        description="Per-batch cap, clamped to BATCH_MAX_WORKERS; absent or 'auto': automatic",
    )
    aspect_ratio: Text = "16:9"
    title: Text = ""

    @field_validator("max_workers")
    @classmethod
    def _positive(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("max_workers must be a positive integer or 'auto'")
        if isinstance(value, int):
            return min(value, MAX_REQUESTED_WORKERS)  # clamped to BATCH_MAX_WORKERS later
        return value

    def to_request(self) -> BatchRequest:
        """The domain request; ``InputError`` for anything the domain rejects."""
        return BatchRequest(
            slides=complete_slides([s.draft() for s in self.slides]),
            style_prompt=self.style_prompt,
            aspect_ratio=AspectRatio.parse(self.aspect_ratio),
            max_workers=self.max_workers if isinstance(self.max_workers, int) else None,
            title=self.title,
        )


class BatchIdIn(BaseModel):
    batch_id: Text


class SlidesCountIn(BaseModel):
    slides_count: Annotated[int, Field(ge=1, le=100_000)]


class RegenerateIn(BaseModel):
    visual_desc: Text | None = Field(
        None, description="A new visual description; absent keeps the old one"
    )


class SingleSlideIn(BaseModel):
    """The seed's one-slide call: the slide's fields at the top level or under ``slide``."""

    model_config = ConfigDict(extra="ignore")

    slide: SlideIn | None = None
    id: Text | int | None = None
    page_num: Annotated[int, Field(ge=1, le=100_000)] | None = None
    type: SlideType | None = None
    title: Text | None = None
    content_text: Text = ""
    visual_desc: Text = ""
    style_prompt: Text = ""
    aspect_ratio: Text = "16:9"
    batch_id: Text | None = Field(None, description="regenerate: the batch holding the slide")
    slide_id: Text | None = Field(None, description="regenerate: the slide's id in that batch")

    def one_slide(self) -> SlideIn:
        if self.slide is not None:
            return self.slide
        if self.title is None:
            raise InputError("a slide needs a title (at the top level or under 'slide')")
        return SlideIn(
            id=self.id,
            page_num=self.page_num,
            type=self.type,
            title=self.title,
            content_text=self.content_text,
            visual_desc=self.visual_desc,
        )


class DeckParseIn(BaseModel):
    text: Text
    format: Literal["json", "markdown"] | None = None


class ExportProjectSlide(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: Text = ""
    content_text: Text = ""
    image_url: str | None = None


class ExportProject(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: Text = "slides"
    slides: list[ExportProjectSlide] = Field(default_factory=list)
    aspect_ratio: Text | None = None


class ExportPptxIn(BaseModel):
    """The seed's ``POST /export/pptx`` body."""

    project: ExportProject
    file_name: Text | None = None


# ------------------------------------------------------------------ responses


class SlideResultOut(BaseModel):
    slide_id: str
    page_num: int
    type: str
    title: str
    content_text: str = ""
    visual_desc: str = ""
    state: str
    status: str
    image_url: str | None
    final_prompt: str = ""
    error_message: str | None
    generation_time: float | None
    attempts: int = 0
    placeholder: bool = False
    cost: float | None = None


class BatchGenerateOut(BaseModel):
    batch_id: str
    status: str
    total_slides: int
    successful: int
    failed: int
    total_time: float
    max_workers: int | None
    results: list[SlideResultOut]


class BatchAcceptedOut(BaseModel):
    batch_id: str
    status: str
    total_slides: int
    max_workers: int | None
    status_url: str
    events_url: str


class BatchStatusOut(BaseModel):
    batch_id: str
    status: str
    progress: float
    total_slides: int
    completed_slides: int
    successful: int
    failed: int
    estimated_remaining_time: float | None
    queue_position: int | None
    title: str
    aspect_ratio: str
    max_workers: int | None
    requested_workers: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    total_time: float | None
    cancel_requested: bool
    results: list[SlideResultOut] | None = None


class BatchListOut(BaseModel):
    items: list[BatchStatusOut]
    total: int
    limit: int
    offset: int


class ActiveCountOut(BaseModel):
    active_batches: int
    running_batches: int
    queued_batches: int
    max_concurrent: int


class ConfigValidateOut(BaseModel):
    valid: bool
    issues: list[str]
    recommendations: list[str]
    current_config: dict[str, Any]


class ConfigOptimalOut(BaseModel):
    slides_count: int
    recommended_workers: int
    estimated_time_seconds: float
    estimated_time_formatted: str
    max_possible_workers: int
    performance_notes: list[str]
    basis: str


class SingleSlideOut(BaseModel):
    image_url: str | None
    final_prompt: str
    status: str
    error_message: str | None = None
    batch_id: str
    slide_id: str
    generation_time: float | None = None


class DeckParseOut(BaseModel):
    slides: list[dict[str, Any]]
    style_prompt: str | None
    aspect_ratio: str | None
    max_workers: int | str | None
    title: str
