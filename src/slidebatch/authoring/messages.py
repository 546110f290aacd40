"""The seed's stream messages (``data: {json}`` lines), one ``TypedDict`` per kind.

They stay plain dicts at run time, so ``streams.sse`` writes them exactly as before (key
order, absent keys); the types let mypy check every producer and give the OpenAPI document
the shape of each line. ``typing_extensions.TypedDict``: pydantic reads only that one on 3.11.

An outline stream is start, progress..., chunk... (a model writing), slide..., complete; a
style stream is start, progress..., chunk_start, chunk..., complete. Either may end with an
``error`` instead when the model fails after the 200.
"""

from __future__ import annotations

from typing import Literal, NotRequired

from typing_extensions import TypedDict

from slidebatch.core.slide import SlideType


class SlideText(TypedDict):
    """The fields every seed slide has, planned or saved: defined here once, for the stream's
    slides and the API's answers (``api.seed_schemas.OutlineSlideOut``, ``SlideDataOut``)."""

    page_num: int
    type: SlideType  # a StrEnum: json.dumps writes its value
    title: str
    content_text: str
    visual_desc: str


class SlideFields(SlideText):
    """A planned slide as the outline endpoints send it (the client gives it an id)."""

    status: Literal["pending"]


class OutlineStart(TypedDict):
    type: Literal["start"]
    message: str
    slide_count: int


class StyleStart(TypedDict):
    type: Literal["start"]
    message: str
    file_count: int


class Progress(TypedDict):
    type: Literal["progress"]
    message: str


class ChunkStart(TypedDict):
    type: Literal["chunk_start"]
    message: str


class Chunk(TypedDict):
    """A piece of the answer as it is written."""

    type: Literal["chunk"]
    content: str
    # "i/n" lines sent: only when the whole text is known (offline); a model's text is not.
    progress: NotRequired[str]


class SlideMessage(TypedDict):
    type: Literal["slide"]
    slide: SlideFields
    progress: str
    current_slide: int
    total_slides: int


class OutlineComplete(TypedDict):
    type: Literal["complete"]
    message: str
    total_slides: int


class StyleComplete(TypedDict):
    type: Literal["complete"]
    message: str
    style_prompt: str
    # The analysed images kept as references: added by the API (``with_references``).
    reference_images: NotRequired[list[str]]


class ErrorMessage(TypedDict):
    """The model failed after the answer started (the status was already 200)."""

    type: Literal["error"]
    message: str


OutlineMessage = OutlineStart | Progress | Chunk | SlideMessage | OutlineComplete | ErrorMessage
StyleMessage = StyleStart | Progress | ChunkStart | Chunk | StyleComplete | ErrorMessage
StreamMessage = OutlineMessage | StyleMessage
