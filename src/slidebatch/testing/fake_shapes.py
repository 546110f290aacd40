"""The three upstream dialects the fake speaks: request parsing and answer bodies.

Bodies follow the public documentation (SPEC section 5). A 401 echoes the key it was given on
purpose, as some real upstreams do, so tests prove the providers scrub it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request

from slidebatch.core.aspect import AspectRatio, ImageSize

JsonBody = dict[str, Any]

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

    @property
    def aspect(self) -> str:
        ratio = AspectRatio.parse(f"{self.width}:{self.height}")
        return str(ratio)


class Shape(Protocol):
    """One dialect. Raising ``ValueError`` in ``parse`` answers 400."""

    name: str

    def api_key(self, request: Request) -> str | None: ...

    def parse(self, body: Any, path_params: Mapping[str, Any]) -> Ask: ...

    def error(self, status: int, message: str) -> JsonBody: ...

    def unauthorized(self, key: str | None) -> tuple[int, JsonBody]: ...

    def rate_limited(self, retry_after: float) -> JsonBody: ...

    def success(self, images: list[bytes], ask: Ask, request_id: str, cost: float) -> JsonBody: ...

    def no_image(self, ask: Ask, request_id: str) -> JsonBody: ...

    def content_policy(self, ask: Ask, request_id: str) -> tuple[int, JsonBody]: ...

    def error_in_200(self) -> JsonBody: ...


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:] if value.lower().startswith("bearer ") else None


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
        if isinstance(content, list):
            prompt = " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
        else:
            prompt = str(content)
        config = body.get("image_config") or {}
        width, height = _ratio_size(config.get("aspect_ratio"), config.get("image_size"))
        return Ask(prompt=prompt, model=str(body["model"]), width=width, height=height)

    def error(self, status: int, message: str) -> JsonBody:
        return {"error": {"code": status, "message": message, "metadata": {"provider": "fake"}}}

    def unauthorized(self, key: str | None) -> tuple[int, JsonBody]:
        return 401, self.error(401, f"No auth credentials found or invalid key: {key}")

    def rate_limited(self, retry_after: float) -> JsonBody:
        return self.error(429, f"Rate limit exceeded: limit_rpm; retry in {retry_after:.3f}s")

    def success(self, images: list[bytes], ask: Ask, request_id: str, cost: float) -> JsonBody:
        urls = [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_b64(image)}"}}
            for image in images
        ]
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
                    "message": {
                        "role": "assistant",
                        "content": "Here is the slide.",
                        "images": urls,
                    },
                }
            ],
            "usage": {"prompt_tokens": 300, "completion_tokens": 1290, "cost": cost},
        }

    def no_image(self, ask: Ask, request_id: str) -> JsonBody:
        body = self.success([], ask, request_id, 0.0)
        del body["choices"][0]["message"]["images"]
        body["choices"][0]["message"]["content"] = "I can describe the slide instead."
        return body

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
        return Ask(prompt=" ".join(texts), model=model, width=width, height=height)

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

    def success(self, images: list[bytes], ask: Ask, request_id: str, cost: float) -> JsonBody:
        parts: list[JsonBody] = [{"text": "Here is the slide."}]
        parts.extend({"inlineData": {"mimeType": "image/png", "data": _b64(i)}} for i in images)
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

    def success(self, images: list[bytes], ask: Ask, request_id: str, cost: float) -> JsonBody:
        return {"created": int(time.time()), "data": [{"b64_json": _b64(i)} for i in images]}

    def no_image(self, ask: Ask, request_id: str) -> JsonBody:
        return self.success([], ask, request_id, 0.0)

    def content_policy(self, ask: Ask, request_id: str) -> tuple[int, JsonBody]:
        body = self.error(400, "Your request was rejected as a result of our safety system.")
        body["error"].update(type="image_generation_user_error", code="content_policy_violation")
        return 400, body

    def error_in_200(self) -> JsonBody:
        body = self.error(500, "The server had an error while processing your request.")
        body["error"]["code"] = 500
        return body
