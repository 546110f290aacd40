"""The settings page's connection test: one small chat request to the configured upstream.

Only the upstream the server runs with is ever called (OpenRouter, or an OpenAI-compatible
base): a test is not a way to make the server fetch any URL a client names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from slidebatch.config import ProviderName, Settings
from slidebatch.scheduler.clock import Clock

TEST_PROMPT = "Hello, this is a connection test. Please respond with 'Connection successful'."
MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the running provider sends its requests, and with which key."""

    provider: ProviderName
    base: str
    key: str


def upstream_of(settings: Settings) -> Upstream | None:
    """The chat-capable upstream of the running provider; ``None`` for local or Gemini."""
    if settings.provider is ProviderName.OPENROUTER and settings.llm_api_key is not None:
        key = settings.llm_api_key.get_secret_value()
        return Upstream(ProviderName.OPENROUTER, settings.llm_api_base, key)
    if settings.provider is ProviderName.OPENAI and settings.openai_api_key is not None:
        key = settings.openai_api_key.get_secret_value()
        return Upstream(ProviderName.OPENAI, settings.openai_api_base, key)
    return None


def refuse_test(upstream: Upstream | None, asked_base: str, asked_key: str) -> str | None:
    """Why this test will not call anything (``None``: go ahead)."""
    if upstream is None:
        return "no chat upstream to test: the server runs the local renderer or Gemini"
    if asked_base and asked_base.rstrip("/") != upstream.base.rstrip("/"):
        return (
            f"the test calls the upstream the server runs with ({upstream.base}); "
            "another base is not called"
        )
    if asked_key and not (asked_key.isascii() and asked_key.isprintable()):
        return "the API key must be printable ASCII"
    return None


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    """The seed's ``{success, message, model, response_time}``."""

    success: bool
    message: str
    model: str
    response_time: float | None


async def test_connection(
    http: httpx.AsyncClient,
    clock: Clock,
    *,
    api_base: str,
    api_key: str,
    model: str,
    timeout_seconds: float,
) -> ConnectionResult:
    """POST ``{api_base}/chat/completions``; success when a non-empty answer comes back.

    Never raises for what the upstream does: every failure is a result with a message
    (the upstream's own words, never the key).
    """
    started = clock.now()
    body = {"model": model, "messages": [{"role": "user", "content": TEST_PROMPT}]}
    try:
        response = await http.post(
            f"{api_base.rstrip('/')}/chat/completions",
            json=body | {"max_tokens": 16},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_seconds,
        )
    except httpx.HTTPError as exc:
        elapsed = clock.now() - started
        return ConnectionResult(False, f"connection failed: {type(exc).__name__}", model, elapsed)
    elapsed = clock.now() - started
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200:
        reason = _error_text(answer) or response.reason_phrase
        message = f"connection failed: HTTP {response.status_code}: {reason}"
        return ConnectionResult(False, _safe(message, api_key), model, elapsed)
    if not _has_answer(answer):
        return ConnectionResult(False, "connection failed: the answer was empty", model, elapsed)
    return ConnectionResult(True, f"connected; answered in {elapsed:.2f} s", model, elapsed)


def _error_text(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("message") or "")
    return ""


def _has_answer(answer: Any) -> bool:
    try:
        message = answer["choices"][0]["message"]
    except (TypeError, KeyError, IndexError):
        return False
    return bool(message.get("content") or message.get("images"))


def _safe(message: str, secret: str) -> str:
    clean = message.replace(secret, "****") if secret else message
    return clean[:MAX_MESSAGE]
