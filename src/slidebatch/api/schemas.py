"""Request and response bodies of the HTTP API (pydantic lives here, at the edge only).

Field names are the seed system's, so its clients work unchanged.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import BatchRecord
from slidebatch.core.cost import spent
from slidebatch.core.deck import DeckInput, SlideDraft, complete_slides
from slidebatch.core.look import MAX_REFERENCES
from slidebatch.core.slide import MAX_PAGE_NUM, BatchRequest, Slide, SlideType
from slidebatch.engine.advisor import ConfigAdvice, ConfigCheck, CurrentConfig
from slidebatch.engine.answers import (
    ActiveCount,
    BatchPage,
    BatchResult,
    BatchStatus,
    Progress,
    SlideAnswer,
    SlideEvent,
)
from slidebatch.engine.candidates import MAX_CANDIDATES
from slidebatch.errors import InputError
from slidebatch.fleet.store import FleetHealth
from slidebatch.fleet.worker import LeaseHealth
from slidebatch.scheduler.rate_gate import GateStats
from slidebatch.services import ServerInfo

# Most caps on client input are InputLimits (settings); this one only keeps a number
# that is clamped anyway small enough to store.
MAX_REQUESTED_WORKERS = 1_000_000


_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(text: str) -> str:
    """Refuse text no database can store: NUL characters and lone UTF-16 surrogates."""
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    if _SURROGATE.search(text):
        raise ValueError("text must be valid Unicode (no lone surrogates)")
    return text


Text = Annotated[str, AfterValidator(_storable)]
PageNum = Annotated[int, Field(ge=1, le=MAX_PAGE_NUM)]
# W:H as AspectRatio.parse reads it (its range checks still apply).
Ratio = Annotated[
    Text,
    Field(pattern=r"^\s*\d+(\.\d+)?\s*[:x/]\s*\d+(\.\d+)?\s*$", examples=["16:9"]),
]

_DASHED_UUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def canonical_batch_id(text: str) -> str:
    """A batch id as stored: the seed types ids as UUIDs, so a dashed spelling is accepted."""
    return text.replace("-", "").lower() if _DASHED_UUID.match(text) else text


# A path parameter (a NUL there is a 404 like any id that cannot exist) and a body field.
BatchId = Annotated[str, AfterValidator(canonical_batch_id)]
BatchIdText = Annotated[Text, AfterValidator(canonical_batch_id)]

# The seed's SlideData: what its clients may send for a slide. The last three are the
# client's own record of a slide and are ignored; anything else is a typo worth a 422
# (an API that silently drops ``content`` pays for an empty slide).
SLIDE_FIELDS = (
    "id",
    "page_num",
    "type",
    "title",
    "content_text",
    "visual_desc",
    "final_prompt",
    "image_url",
    "status",
)


def reject_unknown_slide_fields(data: Any) -> Any:
    """``ValueError`` naming every key of a slide object outside the seed's ``SlideData``."""
    if isinstance(data, dict):
        unknown = [str(key) for key in data if key not in SLIDE_FIELDS]
        if unknown:
            names = ", ".join(repr(key) for key in unknown)
            raise ValueError(
                f"unknown slide field(s) {names} (a slide has: {', '.join(SLIDE_FIELDS)})"
            )
    return data


def _seconds(value: Any) -> Any:
    # The seed's clients add generation times up: a slide that never ran took 0 s.
    return 0.0 if value is None else value


Seconds = Annotated[float, BeforeValidator(_seconds)]


class SlideIn(BaseModel):
    """One slide as a client sends it; only ``title`` is required; unknown fields are a 422."""

    model_config = ConfigDict(extra="ignore")

    _known_fields = model_validator(mode="before")(reject_unknown_slide_fields)

    id: Text | StrictInt | None = Field(
        None, description="The client's id; echoed back as slide_id"
    )
    page_num: PageNum | None = None
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
    aspect_ratio: Ratio = "16:9"
    title: Text = ""
    max_cost: Annotated[StrictFloat, Field(ge=0, le=1e9)] | None = Field(
        None,
        description="USD the batch may cost at most: refused (422) when the estimate is above "
        "it, and stopped (pending slides cancelled) before its spend would pass it",
    )
    reference_images: list[str] = Field(
        default_factory=list,
        max_length=MAX_REFERENCES,
        description="Images sent with every slide's request: data:image/...;base64 URLs, "
        "or /images/... URLs of this server (PNG, JPEG or WebP; at most 4, 5 MB each)",
    )
    anchor: StrictBool = Field(
        False, description="Draw the cover first and send its image with every other slide"
    )
    template_id: Annotated[str, Field(max_length=64)] | None = Field(
        None,
        description="A template (GET /template) whose reference images go with every slide "
        "when reference_images is empty, and whose style prompt is used when style_prompt is",
    )

    @field_validator("max_workers")
    @classmethod
    def _positive(cls, value: int | str | None) -> int | str | None:
        return workers_cap(value)

    def to_request(self) -> BatchRequest:
        """The domain request; ``InputError`` for anything the domain rejects."""
        return BatchRequest(
            slides=complete_slides([s.draft() for s in self.slides]),
            style_prompt=self.style_prompt,
            aspect_ratio=AspectRatio.parse(self.aspect_ratio),
            max_workers=self.max_workers if isinstance(self.max_workers, int) else None,
            title=self.title,
            max_cost=self.max_cost,
        )


class BatchIdIn(BaseModel):
    batch_id: BatchIdText


def workers_cap(value: int | str | None) -> int | str | None:
    """A request's ``max_workers``: a positive integer (clamped to BATCH_MAX_WORKERS later),
    ``"auto"`` or absent."""
    if isinstance(value, int) and value < 1:
        raise ValueError("max_workers must be a positive integer or 'auto'")
    if isinstance(value, int):
        return min(value, MAX_REQUESTED_WORKERS)
    return value


class SlidesCountIn(BaseModel):
    """``config/optimal``: a deck's size, and the batch request's ``max_workers`` if it has one."""

    slides_count: Annotated[int, Field(ge=1, le=100_000)]
    max_workers: Annotated[int, Field(ge=1)] | Literal["auto"] | None = Field(
        None,
        description="The batch's cap, as in a batch request (clamped to BATCH_MAX_WORKERS); "
        "absent or 'auto': the recommendation is the scheduler's own",
    )

    @field_validator("max_workers")
    @classmethod
    def _positive(cls, value: int | str | None) -> int | str | None:
        return workers_cap(value)

    @property
    def workers(self) -> int | None:
        return self.max_workers if isinstance(self.max_workers, int) else None


class RegenerateIn(BaseModel):
    visual_desc: Text | None = Field(
        None, description="A new visual description; absent keeps the old one"
    )
    candidates: int = Field(
        1,
        ge=1,
        le=MAX_CANDIDATES,
        description="Images to make in a row; each is kept as a candidate to pick",
    )


class SingleSlideIn(BaseModel):
    """The seed's one-slide call: the slide's fields at the top level or under ``slide``."""

    model_config = ConfigDict(extra="ignore")

    slide: SlideIn | None = None
    id: Text | StrictInt | None = None
    page_num: PageNum | None = None
    type: SlideType | None = None
    title: Text | None = None
    content_text: Text = ""
    visual_desc: Text = ""
    style_prompt: Text = ""
    aspect_ratio: Ratio = "16:9"
    batch_id: BatchIdText | None = Field(
        None, description="regenerate: the batch holding the slide"
    )
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
    """One slide of an exported project: the seed's ``SlideData``, nothing else (422).

    The seed's frontend sends its store's slides as they are (``Workspace.tsx`` handleExport:
    ``slides`` of type ``SlideData``), which is exactly these fields; the same set
    ``/projects/save`` accepts. ``id``, ``type``, ``visual_desc`` and ``final_prompt`` are
    accepted and not used by the export.
    """

    model_config = ConfigDict(extra="ignore")

    _known_fields = model_validator(mode="before")(reject_unknown_slide_fields)

    id: Text | StrictInt | None = None
    page_num: PageNum | None = None
    type: SlideType | None = None
    title: Text = ""
    content_text: Text = ""
    visual_desc: Text | None = None
    final_prompt: Text | None = None
    image_url: Annotated[Text, Field(max_length=4096)] | None = None
    status: Literal["pending", "generating", "done", "error"] | None = None


class ExportProject(BaseModel):
    """The seed's ``ProjectState`` (``services/types.ts``); another key is a 422."""

    model_config = ConfigDict(extra="forbid")

    template_id: Text | None = None
    template_style_prompt: Text | None = None
    title: Text | None = "slides"
    aspect_ratio: Text | None = None
    slides: list[ExportProjectSlide] = Field(default_factory=list)


class ExportPptxIn(BaseModel):
    """The seed's ``POST /export/pptx`` body: ``{project, file_name?}``; another key is a 422."""

    model_config = ConfigDict(extra="forbid")

    project: ExportProject
    file_name: Text | None = None


# ------------------------------------------------------------------ responses


class ErrorOut(BaseModel):
    """Every error answer: ``detail`` says what is wrong in one line."""

    detail: str
    limit: str | None = Field(None, description="a limit's setting name, when one was hit")
    max: float | None = Field(None, description="that limit's value")


# The error answers an /api route may give, documented once for every route.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut, "description": description}
    for code, description in (
        (400, "the request body could not be read (e.g. a broken multipart upload)"),
        (401, "no key, a wrong key or a revoked key (when the server has keys)"),
        (404, "no such batch, slide or image (or not the caller's)"),
        (409, "the request does not fit the current state (e.g. a reused Idempotency-Key)"),
        (413, "the request body is larger than MAX_BODY_BYTES"),
        (422, "the body is not JSON, malformed or past a limit; detail says what to fix"),
        (429, "the key's quota is used up (see Retry-After)"),
        (502, "the upstream image model failed"),
        (503, "the database or the upstream account is unavailable"),
    )
}


# Each answer value of the engine maps to its model here, once (``of``). Where the names
# match, pydantic reads the frozen dataclass's attributes itself.
_FROM_ANSWER = ConfigDict(from_attributes=True)


class SlideResultOut(BaseModel):
    model_config = _FROM_ANSWER

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
    generation_time: Seconds = 0.0
    attempts: int = 0
    placeholder: bool = False
    cost: float | None = Field(None, description="USD of the slide's latest image")
    spent: float | None = Field(
        None,
        description="USD of every paid image of the slide: replaced ones, discarded "
        "candidates and retried paid attempts too (null: none reported a cost)",
    )
    cost_estimated: bool = Field(
        False,
        description="cost is the model's price, not the provider's figure (an image found "
        "on disk after a restart whose answer was lost)",
    )
    warnings: list[str] = []  # what the image does not show as asked (cut text, missing glyphs)
    waiting_for: Literal["rate_limit", "quota", "blocked"] | None = Field(
        None,
        exclude_if=lambda wait: wait is None,
        description="present while the slide is pending and its batch waits on the upstream: "
        "for the rate limit, for a spent quota to reset, or for a credential the upstream "
        "blocked (state stays pending, as the seed names it)",
    )
    next_start_in: float | None = Field(
        None,
        exclude_if=lambda seconds: seconds is None,
        description="with waiting_for: seconds until the gate's next start, the earliest "
        "this slide can start",
    )

    @classmethod
    def of(cls, answer: SlideAnswer) -> SlideResultOut:
        return cls.model_validate(answer)


class BatchGenerateOut(BaseModel):
    model_config = _FROM_ANSWER

    batch_id: str
    status: str
    total_slides: int
    successful: int
    failed: int
    total_time: float
    max_workers: int | None
    results: list[SlideResultOut]

    @classmethod
    def of(cls, answer: BatchResult) -> BatchGenerateOut:
        return cls.model_validate(answer)


class BatchAcceptedOut(BaseModel):
    batch_id: str
    status: str
    total_slides: int
    max_workers: int | None
    status_url: str
    events_url: str

    @classmethod
    def of(cls, batch: BatchRecord) -> BatchAcceptedOut:
        return cls(
            batch_id=batch.id,
            status=str(batch.state),
            total_slides=batch.total_slides,
            max_workers=batch.effective_workers,
            status_url=f"/api/slide/batch/{batch.id}",
            events_url=f"/api/slide/batch/{batch.id}/events",
        )


class QuotaWaitOut(BaseModel):
    """The upstream's quota is spent: the batch waits until ``until`` (UTC, ISO 8601)."""

    until: str
    reason: str


# Left out of an answer (not null) while the batch is not waiting on a spent quota.
_QUOTA_WAIT = Field(
    None,
    exclude_if=lambda wait: wait is None,
    description="present only while the upstream's quota is spent: when it resets and why",
)


def _progress_fields(progress: Progress) -> dict[str, object]:
    """The progress fields of a status answer and of a slide event (same names in both)."""
    wait = progress.waiting_for_quota
    return {
        "progress": progress.progress,
        "total_slides": progress.total_slides,
        "completed_slides": progress.completed_slides,
        "successful": progress.successful,
        "failed": progress.failed,
        "estimated_remaining_time": progress.estimated_remaining_time,
        "waiting": progress.waiting,
        "next_start_in": progress.next_start_in,
        "waiting_for": progress.waiting_for,
        "waiting_for_quota": None
        if wait is None
        else {"until": wait.until.isoformat(), "reason": wait.reason},
    }


class BatchStatusOut(BaseModel):
    batch_id: str
    status: str
    progress: float
    total_slides: int
    completed_slides: int
    successful: int
    failed: int
    estimated_remaining_time: float | None
    waiting: str | None = None  # "waiting for the rate limit, next start in 12 s"
    next_start_in: float | None = None  # seconds until the gate's next start, when waiting
    waiting_for: str | None = Field(
        None, description='with waiting: "rate_limit", "quota" or "blocked"'
    )
    # Only while the upstream's quota is spent (a daily cap, no credits): when it resets.
    waiting_for_quota: QuotaWaitOut | None = _QUOTA_WAIT
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
    stop_reason: str | None = Field(
        None,
        exclude_if=lambda reason: reason is None,
        description='present when the batch stopped short on its own: "max_cost" (its cost'
        " cap was reached; its pending slides were cancelled)",
    )
    cost: float | None = Field(
        None, description="USD reported by the provider so far (in status answers and lists)"
    )
    estimated_cost: float | None = Field(
        None, description="USD: cost so far plus the slides not yet done at the unit price"
    )
    cost_estimated: bool = Field(
        False,
        description="cost includes the model's price for images whose answer was lost "
        "(found on disk after a crash), not only the provider's figures",
    )
    costs_unknown: int = Field(
        0, description="slides drawn whose cost nobody reported: cost is then a lower bound"
    )
    results: list[SlideResultOut] | None = None
    version: str | None = Field(
        None, description="Send it back as ?since= to get only the slides changed after it"
    )
    error: str | None = Field(
        None,
        exclude_if=lambda error: error is None,
        description="present only when the batch failed for want of its database: why",
    )

    @classmethod
    def of(cls, answer: BatchStatus) -> BatchStatusOut:
        """The answer; ``results`` is left unset (not null) when the answer has none."""
        fields: dict[str, object] = {
            "batch_id": answer.batch_id,
            "status": str(answer.status),
            **_progress_fields(answer.progress),
            "queue_position": answer.queue_position,
            "title": answer.title,
            "aspect_ratio": answer.aspect_ratio,
            "max_workers": answer.max_workers,
            "requested_workers": answer.requested_workers,
            "created_at": answer.created_at.isoformat(),
            "started_at": _iso(answer.started_at),
            "finished_at": _iso(answer.finished_at),
            "total_time": answer.total_time,
            "cancel_requested": answer.cancel_requested,
        }
        if answer.version is not None:
            fields["version"] = answer.version
        if answer.error is not None:
            fields["error"] = answer.error
        if answer.stop_reason is not None:
            fields["stop_reason"] = answer.stop_reason
        if answer.results is not None:
            fields["results"] = [SlideResultOut.of(s) for s in answer.results]
            fields["cost"] = spent(s.spent for s in answer.results)
        elif answer.cost is not None:
            fields["cost"] = answer.cost
        return cls.model_validate(fields)


class SlideEventOut(BaseModel):
    """A slide's change; the progress fields are there while its batch runs."""

    batch_id: str
    slide: SlideResultOut
    progress: float | None = None
    total_slides: int | None = None
    completed_slides: int | None = None
    successful: int | None = None
    failed: int | None = None
    estimated_remaining_time: float | None = None
    waiting: str | None = None
    next_start_in: float | None = None
    waiting_for: str | None = None
    waiting_for_quota: QuotaWaitOut | None = _QUOTA_WAIT

    @classmethod
    def of(cls, event: SlideEvent) -> SlideEventOut:
        progress = {} if event.progress is None else _progress_fields(event.progress)
        return cls.model_validate(
            {"batch_id": event.batch_id, "slide": SlideResultOut.of(event.slide), **progress}
        )


def event_json(data: SlideEvent | BatchStatus) -> str:
    """An engine event as the JSON an SSE client reads (unset fields left out)."""
    model = SlideEventOut.of(data) if isinstance(data, SlideEvent) else BatchStatusOut.of(data)
    return model.model_dump_json(exclude_unset=True)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class BatchListOut(BaseModel):
    items: list[BatchStatusOut]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: BatchPage) -> BatchListOut:
        items = [BatchStatusOut.of(item) for item in page.items]
        return cls(items=items, total=page.total, limit=page.limit, offset=page.offset)


class ActiveCountOut(BaseModel):
    active_batches: int
    running_batches: int
    queued_batches: int
    max_concurrent: int

    @classmethod
    def of(cls, count: ActiveCount) -> ActiveCountOut:
        return cls(
            active_batches=count.running + count.queued,
            running_batches=count.running,
            queued_batches=count.queued,
            max_concurrent=count.max_concurrent,
        )


class ConfigValidateOut(BaseModel):
    valid: bool
    issues: list[str]
    recommendations: list[str]
    current_config: CurrentConfig  # a frozen dataclass: pydantic reads its fields

    @classmethod
    def of(cls, check: ConfigCheck) -> ConfigValidateOut:
        return cls(
            valid=check.valid,
            issues=list(check.issues),
            recommendations=list(check.recommendations),
            current_config=check.current_config,
        )


class ConfigOptimalOut(BaseModel):
    model_config = _FROM_ANSWER

    slides_count: int
    recommended_workers: int
    estimated_time_seconds: float
    estimated_time_formatted: str
    max_possible_workers: int
    performance_notes: list[str]
    basis: str
    max_workers: int | None = Field(
        None, description="The request's max_workers as a batch would get it; null: auto"
    )
    estimated_cost: float | None = Field(None, description="USD; null when the price is unknown")
    cost_per_image: float | None = None
    cost_basis: str = Field("unknown", description="free, measured, configured or unknown")

    @classmethod
    def of(cls, answer: ConfigAdvice) -> ConfigOptimalOut:
        return cls.model_validate(answer)


class SingleSlideOut(BaseModel):
    model_config = _FROM_ANSWER

    image_url: str | None
    final_prompt: str
    status: str
    error_message: str | None = None
    batch_id: str
    slide_id: str
    generation_time: Seconds = 0.0
    cost: float | None = Field(None, description="USD of the slide's latest image")
    spent: float | None = Field(
        None, description="USD of every paid image of the slide (replaced ones too)"
    )

    @classmethod
    def of(cls, answer: SlideAnswer) -> SingleSlideOut:
        return cls.model_validate(answer)


class SlideFieldsOut(BaseModel):
    """A parsed slide as a client would send it back."""

    id: str
    page_num: int
    type: str
    title: str
    content_text: str
    visual_desc: str

    @classmethod
    def of(cls, slide: Slide) -> SlideFieldsOut:
        return cls(
            id=slide.id,
            page_num=slide.page_num,
            type=str(slide.type),
            title=slide.title,
            content_text=slide.content_text,
            visual_desc=slide.visual_desc,
        )


class DeckParseOut(BaseModel):
    slides: list[SlideFieldsOut]
    style_prompt: str | None
    aspect_ratio: str | None
    max_workers: int | str | None
    title: str

    @classmethod
    def of(cls, deck: DeckInput) -> DeckParseOut:
        return cls(
            slides=[SlideFieldsOut.of(s) for s in deck.slides],
            style_prompt=deck.style_prompt,
            aspect_ratio=str(deck.aspect_ratio) if deck.aspect_ratio else None,
            max_workers=deck.max_workers,
            title=deck.title,
        )


class LimitsOut(BaseModel):
    max_slides: int
    max_workers: int
    max_concurrent: int
    max_body_bytes: int


class InfoOut(BaseModel):
    version: str
    provider: str
    model: str | None
    auth_required: bool
    limits: LimitsOut
    default_workers: int | str

    @classmethod
    def of(cls, info: ServerInfo) -> InfoOut:
        return cls(
            version=info.version,
            provider=info.provider,
            model=info.model,
            auth_required=info.auth_required,
            limits=LimitsOut(
                max_slides=info.max_slides,
                max_workers=info.max_workers,
                max_concurrent=info.max_concurrent,
                max_body_bytes=info.max_body_bytes,
            ),
            default_workers=info.default_workers,
        )


class GateOut(BaseModel):
    # The rate scope the figures are for (provider, credential digest, model; Gemini project):
    # one credential's limits differ by model, so a figure without its scope is ambiguous.
    scope: str | None = None
    effective_rate: float | None
    window_seconds: float
    in_flight: int
    in_flight_cap: int
    waiting: int
    paused: bool
    blocked: bool
    parked: str | None
    rate_limited_total: int
    learned_limit: int | None = None  # the upstream's X-RateLimit-Limit, when it named one
    window_learned: bool = False  # the window came from (or was confirmed by) a reset

    @classmethod
    def of(cls, stats: GateStats, scope: str | None = None) -> GateOut:
        return cls(
            scope=scope,
            effective_rate=stats.effective_rate,
            window_seconds=stats.window,
            in_flight=stats.in_flight,
            in_flight_cap=stats.in_flight_cap,
            waiting=stats.waiting,
            paused=stats.paused_until is not None,
            blocked=stats.blocked,
            parked=stats.park_reason,
            rate_limited_total=stats.rate_limited_total,
            learned_limit=stats.learned_limit,
            window_learned=stats.window_learned,
        )


class LeaseOut(BaseModel):
    """A fleet worker's lease health (``/readyz`` of a process with a worker inside)."""

    worker: str
    healthy: bool = Field(description="heartbeat stored within one lease time")
    lease_seconds: float
    heartbeat_age_seconds: float | None = Field(
        None, description="seconds since the last stored heartbeat; null before the first"
    )
    leases: int = Field(description="slides this worker holds now")

    @classmethod
    def of(cls, health: LeaseHealth, now: float) -> LeaseOut:
        age = None if health.last_beat is None else round(max(0.0, now - health.last_beat), 3)
        return cls(
            worker=health.worker,
            healthy=health.healthy(now),
            lease_seconds=health.lease_seconds,
            heartbeat_age_seconds=age,
            leases=health.leases,
        )


class FleetWorkersOut(BaseModel):
    """The fleet as the database sees it (``/readyz`` of every fleet process)."""

    alive: int = Field(description="workers whose heartbeat is younger than alive_within_seconds")
    alive_within_seconds: float = Field(description="two leases (FLEET_LEASE_SECONDS x 2)")
    batches_open: int = Field(description="batches queued or running: work for the workers")
    slides_generating: int = Field(description="slides claimed by a worker now")
    slides_overdue: int = Field(description="claimed slides whose lease has ended")
    problem: str | None = Field(None, description="why the fleet makes the status degraded")

    @classmethod
    def of(cls, health: FleetHealth) -> FleetWorkersOut:
        problem = None
        if health.stalled:
            problem = (
                f"no fleet worker alive (no heartbeat within {health.alive_within:g} s) while"
                f" {health.batches_open} batches wait: start `slidebatch worker`"
            )
        return cls(
            alive=health.workers_alive,
            alive_within_seconds=health.alive_within,
            batches_open=health.batches_open,
            slides_generating=health.slides_generating,
            slides_overdue=health.slides_overdue,
            problem=problem,
        )


class ReadyOut(BaseModel):
    status: Literal["ready", "degraded", "unavailable"]
    database: Literal["ok", "unreachable"]
    database_problem: str | None = None  # why not ok: unreachable, file deleted/replaced, ...
    provider: str
    gate: GateOut
    fleet: LeaseOut | None = Field(None, description="a fleet worker's leases (null: none here)")
    fleet_workers: FleetWorkersOut | None = Field(
        None, description="the fleet's workers and open work (null: not a fleet process)"
    )


class UsageOut(BaseModel):
    """The calling key's use since the start of its day (the quotas' day)."""

    key_id: str | None = Field(None, description="null in open mode (no keys)")
    since: str
    spent: float | None = Field(None, description="USD reported by the provider today")
    slides: int | None = None
