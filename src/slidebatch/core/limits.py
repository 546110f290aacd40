"""Limits on everything a client controls: slides per batch, text sizes, body size.

Pure: the API checks a parsed request here before anything is stored or paid for. Each
violation is a ``LimitExceeded`` that names the setting, so the 4xx answer tells the client
which knob it hit and the operator which knob to turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from slidebatch.core.slide import BatchRequest, Slide
from slidebatch.errors import LimitExceeded


class _LimitSettings(Protocol):
    """The part of ``config.Settings`` the limits read (kept structural: core imports no config)."""

    @property
    def batch_max_slides(self) -> int: ...
    @property
    def max_title_chars(self) -> int: ...
    @property
    def max_content_chars(self) -> int: ...
    @property
    def max_visual_desc_chars(self) -> int: ...
    @property
    def max_style_prompt_chars(self) -> int: ...
    @property
    def max_slide_id_chars(self) -> int: ...
    @property
    def max_body_bytes(self) -> int: ...


@dataclass(frozen=True, slots=True)
class InputLimits:
    """The server's bounds on one request; names match the settings (upper-cased)."""

    max_slides: int = 200
    max_title_chars: int = 300
    max_content_chars: int = 5000
    max_visual_desc_chars: int = 3000
    max_style_prompt_chars: int = 5000
    max_slide_id_chars: int = 128
    max_body_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: _LimitSettings) -> InputLimits:
        """The limits configured in ``settings``."""
        return cls(
            max_slides=settings.batch_max_slides,
            max_title_chars=settings.max_title_chars,
            max_content_chars=settings.max_content_chars,
            max_visual_desc_chars=settings.max_visual_desc_chars,
            max_style_prompt_chars=settings.max_style_prompt_chars,
            max_slide_id_chars=settings.max_slide_id_chars,
            max_body_bytes=settings.max_body_bytes,
        )


def check_batch_request(request: BatchRequest, limits: InputLimits) -> None:
    """Raise ``LimitExceeded`` for the first bound ``request`` goes past."""
    check_slide_count(len(request.slides), limits)
    check_text("style_prompt", request.style_prompt, "MAX_STYLE_PROMPT_CHARS", limits)
    check_text("title", request.title, "MAX_TITLE_CHARS", limits)
    for index, slide in enumerate(request.slides):
        check_slide(slide, limits, where=f"slides[{index}]")


def check_slide_count(count: int, limits: InputLimits, *, what: str = "a batch") -> None:
    """Raise ``LimitExceeded`` when ``count`` slides are more than BATCH_MAX_SLIDES.

    Every endpoint that takes slides checks this (a batch, an export of a project).
    """
    if count > limits.max_slides:
        raise LimitExceeded(
            f"{what} has at most BATCH_MAX_SLIDES={limits.max_slides} slides; this one has {count}",
            limit_name="BATCH_MAX_SLIDES",
            limit=limits.max_slides,
        )


def check_slide(slide: Slide, limits: InputLimits, *, where: str = "slide") -> None:
    """Raise ``LimitExceeded`` when one of ``slide``'s text fields is too long."""
    check_text(f"{where}.id", slide.id, "MAX_SLIDE_ID_CHARS", limits)
    check_text(f"{where}.title", slide.title, "MAX_TITLE_CHARS", limits)
    check_text(f"{where}.content_text", slide.content_text, "MAX_CONTENT_CHARS", limits)
    check_text(f"{where}.visual_desc", slide.visual_desc, "MAX_VISUAL_DESC_CHARS", limits)


def check_text(field: str, value: str, limit_name: str, limits: InputLimits) -> None:
    """Raise ``LimitExceeded`` when ``value`` has more characters than ``limit_name`` allows.

    Also for a lone field such as a regenerate request's new ``visual_desc``.
    """
    limit = _char_limit(limit_name, limits)
    if len(value) > limit:
        raise LimitExceeded(
            f"{field} has {len(value)} characters; {limit_name} is {limit}",
            limit_name=limit_name,
            limit=limit,
        )


def _char_limit(limit_name: str, limits: InputLimits) -> int:
    attribute = limit_name.lower()
    if not attribute.endswith("_chars") or not hasattr(limits, attribute):
        raise ValueError(f"no character limit named {limit_name}")
    value: int = getattr(limits, attribute)
    return value
