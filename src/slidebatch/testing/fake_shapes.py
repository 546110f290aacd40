"""The three upstream shapes the fake speaks: request parsing and answer bodies.

Bodies follow the public documentation and the answers real upstreams and relays give (SPEC
section 5, "How they really answer"): images in ``content`` parts or Markdown, Gemini
``thought`` drafts, refusals with their explanation, daily caps and empty accounts. A 401
echoes the key it was given on purpose, as some real upstreams do, so tests prove the
providers scrub it.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from starlette.requests import Request

from slidebatch.core.aspect import AspectRatio, ImageSize
from slidebatch.testing.fake_behaviour import Dialect
from slidebatch.testing.fake_chat import is_text_chat

JsonBody = dict[str, Any]
_GEMINI_FILTERED = (
    "Unable to show the generated image. The image was filtered out because it violated "
    "Google's Generative AI Prohibited Use policy."
)

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True, slots=True)
class Ask:
    """What one request asks for, whatever its dialect."""

    prompt: str
    model: str
    width: int
    height: int
    # Short SHA-256 digests of the input images the request carried, in order.
    input_images: tuple[str, ...] = ()
    # A text or vision chat call (no image modality): its messages, and whether to stream.
    chat_messages: tuple[Any, ...] | None = None
    stream: bool = False

    @property
    def aspect(self) -> str:
        ratio = AspectRatio.parse(f"{self.width}:{self.height}")
        return str(ratio)


@dataclass(frozen=True, slots=True)
class Style:
    """How a success is written: where the image goes and its real MIME type."""

    dialect: Dialect = Dialect.IMAGES
    mime: str = "image/png"


@dataclass(frozen=True, slots=True)
class Canned:
    """A complete answer: status, JSON body and extra headers."""

    status: int
    body: JsonBody
    headers: dict[str, str]


def next_midnight(now: float, zone: Any) -> float:
    """The epoch second of the next midnight in ``zone``."""
    local = datetime.fromtimestamp(now, zone)
    day = (local + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


class Shape(Protocol):
    """One dialect. Raising ``ValueError`` in ``parse`` answers 400."""

    name: str

    def api_key(self, request: Request) -> str | None: ...

    def parse(self, body: Any, path_params: Mapping[str, Any]) -> Ask: ...

    def error(self, status: int, message: str) -> JsonBody: ...

    def unauthorized(self, key: str | None) -> tuple[int, JsonBody]: ...

    def rate_limited(self, retry_after: float) -> JsonBody: ...

    def success(
        self, images: list[bytes], ask: Ask, request_id: str, cost: float, style: Style = ...
    ) -> JsonBody: ...

    def no_image(self, ask: Ask, request_id: str) -> JsonBody: ...

    def content_policy(self, ask: Ask, request_id: str) -> tuple[int, JsonBody]: ...

    def refused(self, ask: Ask, request_id: str, reason: str | None, draft: bytes) -> Canned: ...

    def quota_daily(self, now: float) -> Canned: ...

    def no_credits(self) -> Canned: ...

    def error_in_200(self) -> JsonBody: ...


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:] if value.lower().startswith("bearer ") else None


def image_digest(data: bytes) -> str:
    """How the fake names an input image in its record: a short SHA-256 of the bytes."""
    return hashlib.sha256(data).hexdigest()[:16]


def _data_url_digest(url: str) -> str:
    """The digest of a ``data:`` URL's bytes; a URL the fake cannot read is named as is."""
    head, _, payload = url.partition(",")
    if head.startswith("data:") and head.endswith(";base64"):
        return image_digest(base64.b64decode(payload))
    return url


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ratio_size(aspect: object, size: object) -> tuple[int, int]:
    ratio = AspectRatio.parse(str(aspect or "1:1"))
    return ratio.upstream_size(ImageSize(str(size or "1K")))


class OpenRouterShape:
    """``POST /api/v1/chat/completions`` with ``modalities`` and ``image_config``."""

    name = "openrouter"

    def api_key(self, request: Request) -> str | None:
        return _bearer(request)

    def parse(self, body: Any, path_params: Mapping[str, Any]) -> Ask:
        messages = body["messages"]
        content = messages[-1]["content"]
        inputs: tuple[str, ...] = ()
        if isinstance(content, list):
            prompt = " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
            inputs = tuple(
                _data_url_digest(str(p["image_url"]["url"]))
                for p in content
                if p.get("type") == "image_url"
            )
        else:
            prompt = str(content)
        config = body.get("image_config") or {}
        width, height = _ratio_size(config.get("aspect_ratio"), config.get("image_size"))
        model = str(body["model"])
        if is_text_chat(body):
            return Ask(
                prompt=prompt,
                model=model,
                width=width,
                height=height,
                input_images=inputs,
                chat_messages=tuple(messages),
                stream=bool(body.get("stream")),
            )
        return Ask(prompt=prompt, model=model, width=width, height=height, input_images=inputs)

    def error(self, status: int, message: str) -> JsonBody:
        return {"error": {"code": status, "message": message, "metadata": {"provider": "fake"}}}

    def unauthorized(self, key: str | None) -> tuple[int, JsonBody]:
        return 401, self.error(401, f"No auth credentials found or invalid key: {key}")

    def rate_limited(self, retry_after: float) -> JsonBody:
        return self.error(429, f"Rate limit exceeded: limit_rpm; retry in {retry_after:.3f}s")

    def success(
        self, images: list[bytes], ask: Ask, request_id: str, cost: float, style: Style = Style()
    ) -> JsonBody:
        urls = [
            {"type": "image_url", "image_url": {"url": f"data:{style.mime};base64,{_b64(image)}"}}
            for image in images
        ]
        message: JsonBody = {"role": "assistant", "content": "Here is the slide.", "images": urls}
        if style.dialect is Dialect.CONTENT_PARTS:
            message = {"role": "assistant", "content": [{"type": "text", "text": "Here it is."}]}
            message["content"].extend(urls)
        elif style.dialect is Dialect.MARKDOWN:
            pictures = "\n".join(f"![slide](data:{style.mime};base64,{_b64(i)})" for i in images)
            message = {"role": "assistant", "content": f"Here is the slide.\n\n{pictures}"}
        return {
            "id": request_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": ask.model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "native_finish_reason": "STOP",
                    "message": message,
                }
            ],
            "usage": {"prompt_tokens": 300, "completion_tokens": 1290, "cost": cost},
        }

    def no_image(self, ask: Ask, request_id: str) -> JsonBody:
        body = self.success([], ask, request_id, 0.0)
        del body["choices"][0]["message"]["images"]
        body["choices"][0]["message"]["content"] = "I can describe the slide instead."
        return body

    def refused(self, ask: Ask, request_id: str, reason: str | None, draft: bytes) -> Canned:
        body = self.success([draft], ask, request_id, 0.0)
        choice = body["choices"][0]
        choice["finish_reason"] = "content_filter"
        choice["native_finish_reason"] = reason or "IMAGE_PROHIBITED_CONTENT"
        choice["message"]["content"] = "I can't create that image: it may violate the policy."
        return Canned(200, body, {})

    def quota_daily(self, now: float) -> Canned:
        reset_ms = str(round(next_midnight(now, UTC) * 1000))
        limits = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0"}
        limits["X-RateLimit-Reset"] = reset_ms
        body = self.error(
            429,
            "Rate limit exceeded: free-models-per-day. "
            "Add 10 credits to unlock 1000 free model requests per day",
        )
        body["error"]["metadata"] = {"headers": limits, "provider_name": None}
        return Canned(429, body, limits)

    def no_credits(self) -> Canned:
        body = self.error(
            402,
            "Insufficient credits. This account never purchased credits. "
            "Make sure your key is on the correct account or org.",
        )
        return Canned(402, body, {})

    def content_policy(self, ask: Ask, request_id: str) -> tuple[int, JsonBody]:
        body = self.error(403, "Your chosen model requires moderation and your input was flagged")
        body["error"]["metadata"] = {"reasons": ["violence"], "flagged_input": ask.prompt[:40]}
        return 403, body

    def error_in_200(self) -> JsonBody:
        body = self.error(502, "Provider returned error")
        body["error"]["metadata"] = {"raw": "upstream connect error", "provider_name": "fake"}
        return body


class GeminiShape:
    """``POST /v1beta/models/{model}:generateContent`` with ``imageConfig``."""

    name = "gemini"

    def api_key(self, request: Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query_params.get("key")

    def parse(self, body: Any, path_params: Mapping[str, Any]) -> Ask:
        texts = [
            str(part["text"])
            for content in body["contents"]
            for part in content["parts"]
            if "text" in part
        ]
        config = (body.get("generationConfig") or {}).get("imageConfig") or {}
        width, height = _ratio_size(config.get("aspectRatio"), config.get("imageSize"))
        model = str(path_params.get("model", ""))
        inputs = tuple(
            image_digest(base64.b64decode(part["inlineData"]["data"]))
            for content in body["contents"]
            for part in content["parts"]
            if "inlineData" in part
        )
        return Ask(
            prompt=" ".join(texts), model=model, width=width, height=height, input_images=inputs
        )

    def error(self, status: int, message: str) -> JsonBody:
        code = _GOOGLE_STATUS.get(status, "UNKNOWN")
        return {"error": {"code": status, "message": message, "status": code}}

    def unauthorized(self, key: str | None) -> tuple[int, JsonBody]:
        body = self.error(400, f"API key not valid. Please pass a valid API key. ({key})")
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        ]
        return 400, body

    def rate_limited(self, retry_after: float) -> JsonBody:
        body = self.error(429, "Resource has been exhausted (e.g. check quota).")
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{retry_after:.3f}s",
            }
        ]
        return body

    def success(
        self, images: list[bytes], ask: Ask, request_id: str, cost: float, style: Style = Style()
    ) -> JsonBody:
        thinking = style.dialect is Dialect.THOUGHT_DRAFTS
        parts: list[JsonBody] = [{"text": "**Planning the layout**", "thought": True}]
        if not thinking:
            parts = []
        for index, image in enumerate(images):
            part: JsonBody = {"inlineData": {"mimeType": style.mime, "data": _b64(image)}}
            if thinking and index < len(images) - 1:
                part["thought"] = True  # Gemini 3's drafts: never the answer
            elif index == len(images) - 1:
                parts.append({"text": "Here is the slide."})
            parts.append(part)
        if not images:
            parts.append({"text": "Here is the slide."})
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 300, "candidatesTokenCount": 1290},
            "modelVersion": ask.model,
            "responseId": request_id,
        }

    def no_image(self, ask: Ask, request_id: str) -> JsonBody:
        return self.success([], ask, request_id, 0.0)

    def content_policy(self, ask: Ask, request_id: str) -> tuple[int, JsonBody]:
        return 200, {"promptFeedback": {"blockReason": "SAFETY"}, "responseId": request_id}

    def refused(self, ask: Ask, request_id: str, reason: str | None, draft: bytes) -> Canned:
        # Gemini 3 thinks in drafts: the only image is a thought, then the filter says no.
        parts: list[JsonBody] = [
            {"text": "**Composing the slide**", "thought": True},
            {"inlineData": {"mimeType": "image/png", "data": _b64(draft)}, "thought": True},
        ]
        body = {
            "candidates": [
                {
                    "content": {"role": "model", "parts": parts},
                    "finishReason": reason or "IMAGE_SAFETY",
                    "finishMessage": _GEMINI_FILTERED,
                    "index": 0,
                }
            ],
            "modelVersion": ask.model,
            "responseId": request_id,
        }
        return Canned(200, body, {})

    def quota_daily(self, now: float) -> Canned:
        return Canned(429, self._quota_failure("PerDay", "50"), {})

    def no_credits(self) -> Canned:
        return Canned(429, self._quota_failure("PerMinute", "0"), {})

    def _quota_failure(self, period: str, value: str) -> JsonBody:
        metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
        body = self.error(
            429,
            "You exceeded your current quota, please check your plan and billing details. "
            f"* Quota exceeded for metric: {metric}, limit: {value}, model: gemini-3-pro-image",
        )
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": metric,
                        "quotaId": f"GenerateRequests{period}PerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": "gemini-3-pro-image"},
                        "quotaValue": value,
                    }
                ],
            },
            # Real answers say "come back in 37s" even for a daily cap: a trap for retries.
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
        ]
        return body

    def error_in_200(self) -> JsonBody:
        return self.error(500, "An internal error has occurred.")


class OpenAIShape:
    """``POST /v1/images/generations`` answering ``b64_json``."""

    name = "openai"

    def api_key(self, request: Request) -> str | None:
        return _bearer(request)

    def parse(self, body: Any, path_params: Mapping[str, Any]) -> Ask:
        size = str(body.get("size") or "auto")
        width, height = (1024, 1024) if size == "auto" else map(int, size.lower().split("x"))
        if width <= 0 or height <= 0:
            raise ValueError(size)
        return Ask(prompt=str(body["prompt"]), model=str(body["model"]), width=width, height=height)

    def error(self, status: int, message: str) -> JsonBody:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def unauthorized(self, key: str | None) -> tuple[int, JsonBody]:
        body = self.error(401, f"Incorrect API key provided: {key}.")
        body["error"]["code"] = "invalid_api_key"
        return 401, body

    def rate_limited(self, retry_after: float) -> JsonBody:
        body = self.error(429, f"Rate limit reached for images. Try again in {retry_after:.3f}s.")
        body["error"].update(type="requests", code="rate_limit_exceeded")
        return body

    def success(
        self, images: list[bytes], ask: Ask, request_id: str, cost: float, style: Style = Style()
    ) -> JsonBody:
        return {"created": int(time.time()), "data": [{"b64_json": _b64(i)} for i in images]}

    def no_image(self, ask: Ask, request_id: str) -> JsonBody:
        return self.success([], ask, request_id, 0.0)

    def content_policy(self, ask: Ask, request_id: str) -> tuple[int, JsonBody]:
        body = self.error(400, "Your request was rejected as a result of our safety system.")
        body["error"].update(type="image_generation_user_error", code="content_policy_violation")
        return 400, body

    def refused(self, ask: Ask, request_id: str, reason: str | None, draft: bytes) -> Canned:
        body = self.error(
            400,
            "Your request was rejected by the safety system. If you believe this is an error, "
            "contact us. safety_violations=[violence].",
        )
        body["error"].update(
            type="image_generation_user_error", code=reason or "moderation_blocked"
        )
        return Canned(400, body, {})

    def quota_daily(self, now: float) -> Canned:
        body = self.rate_limited(0.0)
        body["error"]["message"] = (
            "Rate limit reached for gpt-image-1 in organization org-fake on requests per day "
            "(RPD): Limit 50, Used 50, Requested 1."
        )
        return Canned(429, body, {})

    def no_credits(self) -> Canned:
        body = self.error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
        )
        body["error"].update(type="insufficient_quota", code="insufficient_quota")
        return Canned(429, body, {})

    def error_in_200(self) -> JsonBody:
        body = self.error(500, "The server had an error while processing your request.")
        body["error"]["code"] = 500
        return body
