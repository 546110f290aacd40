"""Gemini direct: ``POST {base}/models/{model}:generateContent`` with the key in a header.

The image is the last ``inlineData`` part of ``candidates[0].content.parts`` that is not a
draft (``thought: true``). A 429 is ``RESOURCE_EXHAUSTED`` whose ``RetryInfo.retryDelay``
("12.5s") says when to come back, unless its ``QuotaFailure`` is per day or has limit 0 (then
it is a quota that resets at midnight Pacific, or never). ``promptFeedback.blockReason`` or a
refusing ``finishReason`` (explained in ``finishMessage``) is a permanent refusal.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from slidebatch.errors import TransientProviderError
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.providers.faults import error_for, error_for_response, fault_from_body
from slidebatch.providers.http import decode_json, quote_upstream
from slidebatch.providers.images import (
    decode_base64,
    nearest_standard,
    ratio_warning,
    sniff_mime,
)
from slidebatch.providers.refusal import refusal_reason, refused
from slidebatch.providers.remote import RemoteProvider
from slidebatch.providers.upstream_quota import PACIFIC


class GeminiProvider(RemoteProvider):
    """One attempt at the Gemini API's ``generateContent``."""

    provider_name = "gemini"

    async def _attempt(self, request: ImageRequest, started: float) -> ImageResult:
        served = nearest_standard(request.aspect_ratio)
        model = self.model.removeprefix("models/")
        response = await self._post(
            f"{self.base_url}/models/{model}:generateContent",
            self._payload(request, str(served)),
            {"x-goog-api-key": self._api_key},
        )
        if response.status >= 300:
            raise error_for_response(response, secret=self._api_key, zone=PACIFIC)
        body = decode_json(response, secret=self._api_key)
        request_id = _str_or_none(body.get("responseId")) or response.request_id
        if "error" in body:
            raise error_for(
                fault_from_body(200, body, response.headers, zone=PACIFIC),
                rate_limit=response.rate_limit,
                request_id=request_id,
                secret=self._api_key,
            )
        data = self._last_inline_image(body, request_id)
        checked = await self._verify(data, served, request_id)
        return self._result(
            checked,
            started=started,
            request_id=request_id,
            rate_limit=response.rate_limit,
            cost=None,  # Gemini reports tokens (usageMetadata), not a price
            warnings=ratio_warning(request.aspect_ratio, served) + checked.warnings,
        )

    def _payload(self, request: ImageRequest, aspect_ratio: str) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": request.prompt}]
        parts.extend(
            {
                "inlineData": {
                    "mimeType": sniff_mime(image),
                    "data": base64.b64encode(image).decode("ascii"),
                }
            }
            for image in request.reference_images
        )
        return {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": {
                "responseModalities": ["TEXT", "IMAGE"],
                "imageConfig": {"aspectRatio": aspect_ratio, "imageSize": self.image_size.value},
            },
        }

    def _last_inline_image(self, body: Mapping[str, Any], request_id: str | None) -> bytes:
        feedback = body.get("promptFeedback")
        if isinstance(feedback, Mapping) and feedback.get("blockReason"):
            reason = str(feedback["blockReason"])
            said = str(feedback.get("blockReasonMessage") or "")
            raise refused(
                refusal_reason(reason) or reason,
                said or f"the prompt was blocked (blockReason={reason})",
                secret=self._api_key,
                request_id=request_id,
            )
        candidates = body.get("candidates")
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if not isinstance(candidate, Mapping):
            raise TransientProviderError(
                "the upstream's answer contained no candidate", upstream_request_id=request_id
            )
        finish = str(candidate.get("finishReason") or "")
        images, texts = _final_parts(candidate.get("content"))
        explanation = str(candidate.get("finishMessage") or "") or " ".join(texts)
        refusal = refusal_reason(finish)
        if refusal is not None:
            # Drafts (thought parts) may precede a refusal; none of them is the answer.
            raise refused(refusal, explanation, secret=self._api_key, request_id=request_id)
        if images:
            return decode_base64(
                images[-1], what="an inlineData image", max_bytes=self.download_max_bytes
            )
        said = quote_upstream(explanation, self._api_key) or "(no text)"
        raise TransientProviderError(
            f"the upstream's answer contained no image (finishReason={finish or 'none'}): {said}",
            status=200,
            upstream_request_id=request_id,
        )


def _final_parts(content: object) -> tuple[list[str], list[str]]:
    """The base64 images and texts of a candidate, leaving out ``thought`` (draft) parts."""
    parts = content.get("parts") if isinstance(content, Mapping) else None
    images: list[str] = []
    texts: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Mapping) or part.get("thought") is True:
            continue
        inline = part.get("inlineData") or part.get("inline_data")
        if isinstance(inline, Mapping) and isinstance(inline.get("data"), str):
            images.append(inline["data"])
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
    return images, texts


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
