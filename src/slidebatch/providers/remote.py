"""What the three HTTP providers share: construction, identity and timing.

A provider writes no log: what one attempt did is one pipeline event, written by the engine
(``slide_retry``, ``slide_failed`` or ``slide_completed``, with the error kind, status,
``retry_after`` and upstream request id), so a single 429 is one record in one system.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from slidebatch.config import AspectMismatchPolicy
from slidebatch.core.aspect import AspectRatio, ImageSize
from slidebatch.core.pixels import DEFAULT_MAX_PIXELS
from slidebatch.providers.base import ImageRequest, ImageResult, RateLimitInfo
from slidebatch.providers.http import (
    DEFAULT_MAX_BODY_BYTES,
    UpstreamResponse,
    credential_id,
    post_json,
)
from slidebatch.providers.images import CheckedImage, download_image, verify_image
from slidebatch.providers.outbound import OutboundPolicy


class RemoteProvider:
    """Base of the HTTP providers. Subclasses set ``provider_name`` and write ``generate``.

    The key is held privately and appears in no ``repr``, message or log record.
    ``timeout`` (``LLM_TIMEOUT_SECONDS``) is the transport's per-socket-operation timeout
    only; an attempt has no deadline here: the dispatcher owns it (``within_deadline``).
    """

    provider_name = "remote"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        base_url: str,
        model: str,
        image_size: ImageSize = ImageSize.K1,
        timeout: float = 120.0,
        aspect_mismatch: AspectMismatchPolicy = AspectMismatchPolicy.RETRY,
        download_max_bytes: int = 40 * 1024 * 1024,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        download_policy: OutboundPolicy | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not api_key:
            raise ValueError(f"{self.provider_name} needs an API key")
        self._client = client
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.image_size = image_size
        self.timeout = timeout
        self.aspect_mismatch = aspect_mismatch
        self.download_max_bytes = download_max_bytes
        self.max_pixels = max_pixels
        self.max_body_bytes = max_body_bytes
        # Image URLs are fetched only from the upstream's own host (or an allowed one).
        self.download_policy = download_policy or OutboundPolicy.for_upstream(self.base_url)
        self._clock = clock
        self._credential_id = credential_id(self.provider_name, self.base_url, api_key)

    @property
    def name(self) -> str:
        """Short name for logs and metrics."""
        return self.provider_name

    @property
    def credential_id(self) -> str:
        """The account whose limits apply: a hash of base URL and key, never the key."""
        return self._credential_id

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, "
            f"credential_id={self._credential_id!r})"
        )

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Make exactly one attempt; raise a ``ProviderError`` subclass on failure."""
        return await self._attempt(request, self._clock())

    async def _attempt(self, request: ImageRequest, started: float) -> ImageResult:
        raise NotImplementedError

    async def _post(
        self, url: str, payload: Mapping[str, Any], headers: Mapping[str, str]
    ) -> UpstreamResponse:
        """The attempt's one POST, with this provider's transport timeout, cap and key."""
        return await post_json(
            self._client,
            url,
            payload=payload,
            headers=headers,
            socket_timeout=self.timeout,
            secret=self._api_key,
            max_bytes=self.max_body_bytes,
        )

    async def _download(self, url: str) -> bytes:
        """An image the answer points to, fetched under the download policy and cap."""
        return await download_image(
            self._client,
            url,
            socket_timeout=self.timeout,
            max_bytes=self.download_max_bytes,
            policy=self.download_policy,
        )

    async def _verify(
        self, data: bytes, expected: AspectRatio | None, request_id: str | None
    ) -> CheckedImage:
        """The image checked against the pixel cap and ``expected``, decoded off the event loop."""
        return await verify_image(
            data,
            expected=expected,
            policy=self.aspect_mismatch,
            request_id=request_id,
            max_pixels=self.max_pixels,
        )

    def _elapsed(self, started: float) -> float:
        return max(0.0, self._clock() - started)

    def _result(
        self,
        checked: CheckedImage,
        *,
        started: float,
        request_id: str | None,
        rate_limit: RateLimitInfo,
        cost: float | None,
        warnings: tuple[str, ...],
    ) -> ImageResult:
        """The attempt's answer: the verified image and what the upstream said about it."""
        return ImageResult(
            data=checked.data,
            mime_type=checked.mime_type,
            width=checked.width,
            height=checked.height,
            latency_s=self._elapsed(started),
            cost=cost,
            upstream_request_id=request_id,
            rate_limit=rate_limit,
            warnings=warnings,
        )
