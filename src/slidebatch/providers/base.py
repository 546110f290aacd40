"""The contract every image upstream keeps.

A provider makes exactly one attempt per call; it never retries and never sleeps. Failure is
one of the typed ``ProviderError``s from ``slidebatch.errors`` (``RateLimited``,
``TransientProviderError``, ``PermanentProviderError``), carrying what the scheduler needs
(``retry_after``, the X-RateLimit figures). Messages quote the upstream, never the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from slidebatch.core.aspect import AspectRatio, ImageSize
from slidebatch.core.slide import Slide


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """Everything one attempt needs.

    Remote providers send ``prompt``; the local renderer draws ``slide`` in ``style_prompt``'s
    palette. ``reference_images`` are PNG/JPEG bytes a model may use as visual references.
    """

    prompt: str
    slide: Slide
    style_prompt: str
    aspect_ratio: AspectRatio
    image_size: ImageSize = ImageSize.K1
    reference_images: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The X-RateLimit-* figures an upstream sent with an answer (any may be missing)."""

    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None  # seconds from now


@dataclass(frozen=True, slots=True)
class ImageResult:
    """One generated image and what the upstream told us about it."""

    data: bytes
    mime_type: str
    width: int
    height: int
    latency_s: float
    cost: float | None = None
    upstream_request_id: str | None = None
    rate_limit: RateLimitInfo = field(default_factory=RateLimitInfo)
    placeholder: bool = False  # a locally drawn stand-in, not the model's image
    warnings: tuple[str, ...] = ()


@runtime_checkable
class ImageProvider(Protocol):
    """One image upstream."""

    @property
    def name(self) -> str:
        """Short name for logs and metrics: ``openrouter``, ``gemini``, ``openai``, ``local``."""
        ...

    @property
    def credential_id(self) -> str:
        """Identifies the account whose limits apply (never the key itself): one gate each."""
        ...

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Make one attempt; raise a ``ProviderError`` subclass on failure."""
        ...
