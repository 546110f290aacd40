"""OpenAI Images: ``POST {base}/images/generations`` (gpt-image-1), ``b64_json`` in ``data[]``.

gpt-image-1 draws only 1024x1024, 1536x1024 and 1024x1536, so a 16:9 slide is asked as the
nearest of those (3:2) and can never match 16:9. The image is therefore checked against the
size that was asked, not the slide's ratio: a 16:9 slide gets a 3:2 image and a warning saying
so (the exporters fit it), while an upstream answering 1024x1536 to a 1536x1024 request is still
a mismatch under ``LLM_ASPECT_MISMATCH``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from slidebatch.core.aspect import AspectRatio
from slidebatch.errors import TransientProviderError
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.providers.faults import error_for, error_for_response, fault_from_body
from slidebatch.providers.http import decode_json
from slidebatch.providers.images import decode_base64
from slidebatch.providers.remote import RemoteProvider

SIZES: tuple[tuple[int, int], ...] = ((1024, 1024), (1536, 1024), (1024, 1536))


def size_for(ratio: AspectRatio) -> tuple[int, int]:
    """The gpt-image-1 size whose ratio is nearest ``ratio`` (on a log scale)."""
    return min(SIZES, key=lambda size: abs(math.log(size[0] / size[1] / ratio.ratio)))


class OpenAIImagesProvider(RemoteProvider):
    """One attempt at OpenAI's image generations endpoint."""

    provider_name = "openai"

    async def _attempt(self, request: ImageRequest, started: float) -> ImageResult:
        width, height = size_for(request.aspect_ratio)
        asked = AspectRatio.parse(f"{width}:{height}")
        response = await self._post(
            f"{self.base_url}/images/generations",
            {
                "model": self.model,
                "prompt": request.prompt,
                "size": f"{width}x{height}",
                "n": 1,
            },
            {"Authorization": f"Bearer {self._api_key}"},
        )
        if response.status >= 300:
            raise error_for_response(response, secret=self._api_key)
        body = decode_json(response, secret=self._api_key)
        request_id = response.request_id
        if "error" in body:
            raise error_for(
                fault_from_body(200, body, response.headers),
                rate_limit=response.rate_limit,
                request_id=request_id,
                secret=self._api_key,
            )
        data = await self._last_image(body, request_id)
        checked = await self._verify(data, asked, request_id)
        warnings = checked.warnings
        if not request.aspect_ratio.matches(checked.width, checked.height):
            warnings += (
                f"the upstream has no {request.aspect_ratio} size; "
                f"asked for the nearest, {width}x{height}",
            )
        if request.reference_images:
            warnings += ("images/generations takes no reference images; they were not sent",)
        return self._result(
            checked,
            started=started,
            request_id=request_id,
            rate_limit=response.rate_limit,
            cost=None,  # the Images API reports tokens, not a price
            warnings=warnings,
        )

    async def _last_image(self, body: Mapping[str, Any], request_id: str | None) -> bytes:
        items = body.get("data")
        entries = (
            [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []
        )
        if entries:
            last = entries[-1]
            if isinstance(last.get("b64_json"), str):
                return decode_base64(
                    last["b64_json"], what="a b64_json image", max_bytes=self.download_max_bytes
                )
            if isinstance(last.get("url"), str):
                return await self._download(last["url"])
        raise TransientProviderError(
            "the upstream's answer contained no image (data[] had no b64_json)",
            status=200,
            upstream_request_id=request_id,
        )
