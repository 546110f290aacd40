"""Bodies of the seed's studio endpoints: projects, templates, outlines, its settings page.

Field names and bounds are the seed's (``slide_count`` 1..40, ``default_aspect_ratio``
``W:H``); a slide object outside the seed's ``SlideData`` fields is a 422 naming them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictInt,
    TypeAdapter,
    model_validator,
)
from typing_extensions import TypedDict

from slidebatch.api.schemas import PageNum, Text, reject_unknown_slide_fields
from slidebatch.assist.outline import MAX_DOCUMENT_CHARS
from slidebatch.authoring.messages import SlideFields, SlideText
from slidebatch.config import MAX_LLM_TIMEOUT_SECONDS
from slidebatch.core.look import MAX_REFERENCES
from slidebatch.core.slide import MAX_PAGE_NUM, SlideType

MAX_PROJECT_SLIDES = 500
ProjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class SlideData(BaseModel):
    """The seed's slide, as its frontend keeps it in a project."""

    model_config = ConfigDict(extra="ignore")

    _known_fields = model_validator(mode="before")(reject_unknown_slide_fields)

    id: Annotated[Text, Field(max_length=128)] = Field(default_factory=lambda: str(uuid.uuid4()))
    page_num: PageNum
    type: SlideType = SlideType.CONTENT
    title: Text = ""
    content_text: Text = ""
    visual_desc: Text = ""
    final_prompt: Text | None = None
    image_url: Annotated[Text, Field(max_length=4096)] | None = None
    status: Literal["pending", "generating", "done", "error"] = "pending"


class ProjectIn(BaseModel):
    """``POST /projects/save``: the whole project; the server keeps its own timestamps."""

    id: ProjectId
    title: Annotated[Text, Field(max_length=300)] = ""
    # The client's clock: read as text and ignored (the server stamps its own times).
    created_at: Annotated[str, Field(max_length=64)] | None = None
    updated_at: Annotated[str, Field(max_length=64)] | None = None
    template_style_prompt: Text = ""
    slides: Annotated[list[SlideData], Field(max_length=MAX_PROJECT_SLIDES)]
    thumbnail_url: Annotated[Text, Field(max_length=4096)] | None = None


class SlideId(TypedDict):
    # A base of its own so that id comes first on the wire, as the seed sends it.
    id: str


class SlideDataOut(SlideId, SlideText):
    """A saved slide: every ``SlideData`` field, always present (``None`` when unset)."""

    final_prompt: str | None
    image_url: str | None
    status: Literal["pending", "generating", "done", "error"]


class ProjectOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    template_style_prompt: str
    slides: list[SlideDataOut]
    thumbnail_url: str | None = None


class ProjectListItemOut(BaseModel):
    id: str
    title: str
    updated_at: datetime
    thumbnail_url: str | None = None


class TemplateIn(BaseModel):
    """``POST /template/save`` and ``PUT /template/{id}``."""

    name: Annotated[Text, Field(min_length=1, max_length=200)]
    style_prompt: Annotated[Text, Field(max_length=20_000)]
    cover_image: str | None = None
    vis_settings: dict[str, JsonValue] | None = None
    aspect_ratios: list[Annotated[str, Field(max_length=16)]] = Field(
        default_factory=lambda: ["16:9", "4:3", "1:1"], max_length=20
    )
    default_aspect_ratio: str = Field("16:9", pattern=r"^\d{1,2}:\d{1,2}$")
    custom_dimensions: dict[str, StrictInt] | None = None
    reference_images: list[str] = Field(
        default_factory=list,
        max_length=MAX_REFERENCES,
        description="Images a batch made from this template sends with every slide: "
        "data:image/...;base64 URLs, or the /assets/templates/... URLs /template/analyze "
        "answered (PNG, JPEG or WebP; at most 4, 5 MB each). None: an uploaded cover is used",
    )


class TemplateOut(BaseModel):
    id: str
    name: str
    style_prompt: str
    cover_image: str | None = None
    # Open on purpose: the seed's frontend keeps its own display settings here (colours, fonts,
    # layout switches) and reads back what it saved; the server only stores them.
    vis_settings: dict[str, JsonValue] | None = None
    aspect_ratios: list[str]
    default_aspect_ratio: str
    custom_dimensions: dict[str, int] | None = None
    reference_images: list[str] = []
    created_at: datetime


class TemplateListOut(BaseModel):
    templates: list[TemplateOut]


class TemplateSavedOut(BaseModel):
    template: TemplateOut


class StylePromptOut(BaseModel):
    style_prompt: str
    reference_images: list[str] = Field(
        default_factory=list,
        description="The analysed images kept as references (PNG, JPEG or WebP up to 5 MB): "
        "pass them as reference_images to /template/save",
    )


class OutlineIn(BaseModel):
    text: Annotated[Text, Field(max_length=MAX_DOCUMENT_CHARS)]
    slide_count: Annotated[int, Field(ge=1, le=40)] = 8
    template_id: Annotated[str, Field(max_length=64)] | None = None


class OutlineSlideOut(SlideId, SlideFields):
    """A planned slide with a fresh id (``authoring.messages.SlideFields`` plus ``id``)."""


class OutlineOut(BaseModel):
    slides: list[OutlineSlideOut]


class SlideContext(BaseModel):
    page_num: PageNum
    type: str
    title: Text
    content_text: Text
    visual_desc: Text


class InsertSlideIn(BaseModel):
    user_prompt: Annotated[Text, Field(min_length=1, max_length=5000)]
    # The inserted slide is page insert_after_page_num + 1, bounded as every page_num is.
    insert_after_page_num: Annotated[int, Field(ge=1, le=MAX_PAGE_NUM - 1)]
    template_name: Text | None = None
    style_prompt: Text | None = None
    prev_slide: SlideContext | None = None
    next_slide: SlideContext | None = None


class InsertSlideOut(BaseModel):
    slide: OutlineSlideOut


class AppConfigIn(BaseModel):
    """``POST /config``: any of the seed's settings; a masked secret means "unchanged"."""

    model_config = ConfigDict(extra="ignore")

    llm_api_key: Annotated[str, Field(max_length=500)] | None = None
    llm_api_base: Annotated[str, Field(max_length=500)] | None = None
    llm_chat_model: Annotated[str, Field(max_length=200)] | None = None
    llm_image_api_key: Annotated[str, Field(max_length=500)] | None = None
    llm_image_api_base: Annotated[str, Field(max_length=500)] | None = None
    llm_image_model: Annotated[str, Field(max_length=200)] | None = None
    llm_timeout_seconds: Annotated[int, Field(ge=1, le=MAX_LLM_TIMEOUT_SECONDS)] | None = None
    image_output_dir: Annotated[str, Field(max_length=500)] | None = None
    pptx_output_dir: Annotated[str, Field(max_length=500)] | None = None
    template_store_path: Annotated[str, Field(max_length=500)] | None = None
    allowed_origins: Annotated[list[str], Field(max_length=50)] | None = None
    project_name: Annotated[str, Field(max_length=200)] | None = None
    api_prefix: Annotated[str, Field(max_length=50)] | None = None


class ConnectionTestIn(BaseModel):
    api_key: Annotated[str, Field(max_length=500)] = ""
    api_base: Annotated[str, Field(max_length=500)] = ""
    model: Annotated[str, Field(max_length=200)] = ""
    timeout_seconds: Annotated[int, Field(ge=1, le=MAX_LLM_TIMEOUT_SECONDS)] | None = None


class ConnectionTestOut(BaseModel):
    success: bool
    message: str
    model: str | None = None
    response_time: float | None = None


class AppConfigOut(BaseModel):
    """The seed's ``AppConfig`` as its settings page reads it (secrets masked)."""

    llm_api_key: str
    llm_api_base: str
    llm_chat_model: str
    llm_image_api_key: str
    llm_image_api_base: str
    llm_image_model: str
    llm_timeout_seconds: int
    image_output_dir: str
    pptx_output_dir: str
    template_store_path: str
    allowed_origins: list[str]
    project_name: str
    api_prefix: str


class ConfigStatusOut(BaseModel):
    is_configured: bool
    has_api_key: bool
    config_file_exists: bool
    config_file_path: str
    validation_errors: list[str]
    is_valid: bool
    provider: str


class ConfigCheckOut(BaseModel):
    valid: bool
    errors: list[str]


class MessageOut(BaseModel):
    message: str


def event_stream(message_type: Any, description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route answering the seed's ``data: {json}`` lines of ``message_type``.

    The stream is written by ``authoring.streams`` (not FastAPI's own SSE, whose bytes differ),
    so the document is given here: each event's ``data`` is one message, its JSON schema
    inlined (no ``$defs``, which OpenAPI would resolve against the document's root).
    The per-event schema sits under the vendor extension ``x-item-schema``: OpenAPI 3.2's
    ``itemSchema`` is not allowed in the 3.1 document FastAPI writes (its validators refuse it).
    """
    schema = TypeAdapter(message_type).json_schema()
    message = _inlined(schema, schema.pop("$defs", {}))
    item = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": message,
            }
        },
    }
    return {
        200: {"description": description, "content": {"text/event-stream": {"x-item-schema": item}}}
    }


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inlined(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(value, defs) for value in node]
    return node
