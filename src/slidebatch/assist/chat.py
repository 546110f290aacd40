"""A text (and vision) chat call through the configured upstream: the model behind the helpers.

OpenAI-compatible ``POST {base}/chat/completions`` (OpenRouter, OpenAI and relays of the same
shape), with ``stream: true`` read as server-sent events (``data: {choices:[{delta:{content}}]}``
... ``data: [DONE]``) so a caller can show the answer as it is written. An upstream error is
the same typed ``ProviderError`` the image providers raise, with the key scrubbed.

Deadline: the whole answer, stream included, gets ``LLM_TIMEOUT_SECONDS`` on the injected
clock through the dispatcher's helper (``scheduler.deadline.within_deadline``), as an image
attempt does; httpx's timeout stays the per-socket-operation bound.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from slidebatch.errors import TransientProviderError
from slidebatch.providers.faults import error_for, error_for_response, fault_from_body
from slidebatch.providers.http import UpstreamResponse, parse_rate_limit, transport_error
from slidebatch.providers.images import to_data_url
from slidebatch.scheduler.clock import Clock, SystemClock
from slidebatch.scheduler.deadline import within_deadline

Message = Mapping[str, Any]
OnText = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ChatModel:
    """Where the chat model is and which one (the key stays out of ``repr``)."""

    base_url: str
    model: str
    api_key: str
    timeout: float = 120.0
    clock: Clock = field(default_factory=SystemClock, compare=False)

    def __repr__(self) -> str:
        return f"ChatModel(base_url={self.base_url!r}, model={self.model!r})"


def user_message(text: str, images: Sequence[bytes] = ()) -> dict[str, Any]:
    """One user message: the text, then each image as an ``image_url`` data URL part."""
    if not images:
        return {"role": "user", "content": text}
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts.extend({"type": "image_url", "image_url": {"url": to_data_url(i)}} for i in images)
    return {"role": "user", "content": parts}


async def chat_text(
    client: httpx.AsyncClient,
    model: ChatModel,
    messages: Sequence[Message],
    *,
    on_text: OnText | None = None,
) -> str:
    """The whole answer as one text; each piece goes to ``on_text`` as the upstream writes it.

    An answer not finished within ``model.timeout`` (on ``model.clock``) is cancelled and an
    overload ``TransientProviderError``.
    """
    return await within_deadline(
        _answer(client, model, messages, on_text),
        clock=model.clock,
        seconds=model.timeout,
        message=f"the chat model did not finish within {model.timeout:g} s",
    )


async def _answer(
    client: httpx.AsyncClient,
    model: ChatModel,
    messages: Sequence[Message],
    on_text: OnText | None,
) -> str:
    payload = {"model": model.model, "messages": list(messages), "stream": True}
    headers = {"Authorization": f"Bearer {model.api_key}"}
    url = f"{model.base_url.rstrip('/')}/chat/completions"
    secret = model.api_key
    pieces: list[str] = []
    try:
        async with client.stream(
            "POST", url, json=payload, headers=headers, timeout=httpx.Timeout(model.timeout)
        ) as response:
            if response.status_code >= 300:
                body = await response.aread()
                raise error_for_response(_upstream(response, body), secret=secret)
            async for piece in _pieces(response, secret):
                pieces.append(piece)
                if on_text is not None:
                    await on_text(piece)
    except httpx.HTTPError as exc:
        raise transport_error(exc, secret=secret) from exc
    return "".join(pieces)


async def _pieces(response: httpx.Response, secret: str) -> AsyncIterator[str]:
    other: list[str] = []  # an answer with no data: line is one JSON body (an error in a 200)
    streamed = False
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            other.append(line)  # blank lines, ': keep-alive' comments, event names
            continue
        streamed = True
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except json.JSONDecodeError as exc:
            raise TransientProviderError("the chat model sent a malformed stream event") from exc
        text = _event_text(event, response, secret)
        if text:
            yield text
    if not streamed:
        text = _event_text(_json_or_none("\n".join(other)), response, secret)
        if text:
            yield text


def _event_text(event: object, response: httpx.Response, secret: str) -> str:
    """The text of one event or body; an ``error`` in it is the upstream's typed error."""
    if isinstance(event, Mapping) and "error" in event:
        fault = fault_from_body(200, event, response.headers)
        raise error_for(fault, rate_limit=parse_rate_limit(response.headers), secret=secret)
    return _delta_text(event)


def _json_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _delta_text(event: object) -> str:
    choices = event.get("choices") if isinstance(event, Mapping) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, Mapping):
        return ""
    delta = choice.get("delta") or choice.get("message")
    content = delta.get("content") if isinstance(delta, Mapping) else None
    return content if isinstance(content, str) else ""


def _upstream(response: httpx.Response, body: bytes) -> UpstreamResponse:
    return UpstreamResponse(
        status=response.status_code,
        headers=response.headers,
        body=body,
        rate_limit=parse_rate_limit(response.headers),
        request_id=response.headers.get("x-request-id"),
    )
