"""OpenRouter (and OpenAI-compatible gateways of the same shape): chat completions with images.

``POST {base}/chat/completions`` with ``modalities: ["image", "text"]`` and ``image_config``;
the images come back in ``choices[0].message.images[].image_url.url`` (relays: in ``content``,
see ``dialects``). Models may send a draft first, so the last image is the answer. Errors are
``{error: {code, message, metadata}}``, some inside an HTTP 200; a refusal is ``finish_reason:
content_filter`` with the model's ``native_finish_reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slidebatch.errors import TransientProviderError
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.providers.dialects import content_text, message_image_urls
from slidebatch.providers.faults import error_for, error_for_response, fault_from_body
from slidebatch.providers.http import UpstreamResponse, decode_json, quote_upstream
from slidebatch.providers.images import (
    decode_data_url,
    nearest_standard,
    ratio_warning,
    to_data_url,
)
from slidebatch.providers.refusal import refusal_reason, refused
from slidebatch.providers.remote import RemoteProvider

# Attribution headers OpenRouter shows on its leaderboards; harmless for other gateways.
APP_URL = "https://github.com/slidebatch/slidebatch"
APP_TITLE = "slidebatch"


class OpenRouterProvider(RemoteProvider):
    """One attempt at OpenRouter's chat completions endpoint."""

    provider_name = "openrouter"

    async def _attempt(self, request: ImageRequest, started: float) -> ImageResult:
        served = nearest_standard(request.aspect_ratio)
        response = await self._post(
            f"{self.base_url}/chat/completions",
            self._payload(request, str(served)),
            {
                "Authorization": f"Bearer {self._api_key}",
                "HTTP-Referer": APP_URL,
                "X-Title": APP_TITLE,
            },
        )
        if response.status >= 300:
            raise error_for_response(response, secret=self._api_key)
        body = decode_json(response, secret=self._api_key)
        request_id = _str_or_none(body.get("id")) or response.request_id
        url = self._last_image_url(body, response, request_id)
        if url.startswith("data:"):
            data = decode_data_url(url, max_bytes=self.download_max_bytes)
        else:
            data = await self._download(url)
        checked = await self._verify(data, served, request_id)
        return self._result(
            checked,
            started=started,
            request_id=request_id,
            rate_limit=response.rate_limit,
            cost=_cost(body.get("usage")),
            warnings=ratio_warning(request.aspect_ratio, served) + checked.warnings,
        )

    def _payload(self, request: ImageRequest, aspect_ratio: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
        content.extend(
            {"type": "image_url", "image_url": {"url": to_data_url(image)}}
            for image in request.reference_images
        )
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": aspect_ratio, "image_size": self.image_size.value},
        }

    def _last_image_url(
        self, body: Mapping[str, Any], response: UpstreamResponse, request_id: str | None
    ) -> str:
        secret = self._api_key
        if "error" in body:
            fault = fault_from_body(200, body, response.headers)
            raise error_for(
                fault, rate_limit=response.rate_limit, request_id=request_id, secret=secret
            )
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, Mapping) or not isinstance(choice.get("message"), Mapping):
            raise TransientProviderError(
                "the upstream sent a malformed answer (no choices[0].message)",
                status=response.status,
                upstream_request_id=request_id,
            )
        if isinstance(choice.get("error"), Mapping):
            fault = fault_from_body(200, {"error": choice["error"]}, response.headers)
            raise error_for(
                fault, rate_limit=response.rate_limit, request_id=request_id, secret=secret
            )
        message = choice["message"]
        explanation = content_text(message.get("content")) or str(message.get("refusal") or "")
        reason = refusal_reason(choice.get("native_finish_reason"), choice.get("finish_reason"))
        if reason is not None:
            # A refusing model may still have sent its drafts: none of them is the answer.
            raise refused(
                reason, explanation, secret=secret, status=response.status, request_id=request_id
            )
        urls = message_image_urls(message)
        if urls:
            return urls[-1]
        said = quote_upstream(explanation, secret)
        finish = str(choice.get("native_finish_reason") or choice.get("finish_reason") or "")
        raise TransientProviderError(
            f"the upstream's answer contained no image (finish_reason={finish or 'none'}): "
            f"{said or '(no text)'}",
            status=response.status,
            upstream_request_id=request_id,
        )


def _cost(usage: object) -> float | None:
    if not isinstance(usage, Mapping):
        return None
    cost = usage.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        return float(cost)
    return None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
