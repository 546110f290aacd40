"""What an upstream's error answer means: the one status -> error table, quotas, policy.

:func:`fault_from_body` reads an error answer in any provider's shape (OpenRouter, Gemini,
OpenAI: ``{error: {code, message, status, metadata, details}}``, also inside an HTTP 200)
into an :class:`UpstreamFault`; :func:`error_for` turns that into the typed error the
scheduler acts on. Quoted upstream text is scrubbed of the key (``http.quote_upstream``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from slidebatch.errors import (
    PermanentProviderError,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Refused,
    TransientProviderError,
)
from slidebatch.providers.base import RateLimitInfo
from slidebatch.providers.http import UpstreamResponse, quote_upstream
from slidebatch.providers.ratelimit_headers import (
    merged,
    parse_duration,
    parse_reset,
    parse_retry_after,
    rate_limit_from_body,
)
from slidebatch.providers.upstream_quota import QuotaKind, QuotaVerdict, classify_quota

_POLICY_WORDS = (
    "content policy",
    "content_policy",
    "moderation",
    "flagged",
    "safety system",
)


@dataclass(frozen=True, slots=True)
class UpstreamFault:
    """An upstream's error, whatever its shape: HTTP status and the ``error`` object's fields."""

    status: int
    message: str
    code: str = ""
    retry_after: float | None = None
    content_policy: bool = False
    bad_key: bool = False  # Gemini says "API key not valid" with HTTP 400
    quota: QuotaVerdict | None = None  # a quota waiting cannot fix


def error_for(
    fault: UpstreamFault,
    *,
    rate_limit: RateLimitInfo = RateLimitInfo(),  # noqa: B008 - frozen value
    request_id: str | None = None,
    secret: str | None = None,
) -> ProviderError:
    """The one status -> error table (``fault.status`` may come from an error inside a 200)."""
    status = fault.status
    text = quote_upstream(fault.message or "(no message)", secret)
    common: dict[str, Any] = {"status": status, "upstream_request_id": request_id}
    if fault.quota is not None:
        return quota_error(fault.quota, status, text, request_id)
    if status == 429:
        return _rate_limited(fault, rate_limit, text, request_id)
    if status == 401 or fault.bad_key:
        return PermanentProviderError(
            f"the upstream rejected the API key (HTTP {status}): {text}", **common
        )
    if fault.content_policy and status < 500:
        return Refused(
            f"the upstream refused to draw this slide under its content policy "
            f"({fault.code or f'HTTP {status}'}): {text}",
            reason=fault.code or "content_policy",
            **common,
        )
    if status == 403:
        return PermanentProviderError(
            f"the upstream rejected the API key (HTTP {status}): {text}", **common
        )
    if status == 402:
        return PermanentProviderError(
            f"the upstream account cannot pay for this request (HTTP 402): {text}", **common
        )
    if status in (404, 410):
        return PermanentProviderError(
            f"the upstream does not know this model or endpoint (HTTP {status}): {text}", **common
        )
    if status in (408, 503, 529):
        return TransientProviderError(
            f"the upstream is overloaded (HTTP {status}): {text}",
            retry_after=fault.retry_after,
            overload=True,
            **common,
        )
    if 400 <= status < 500:
        return PermanentProviderError(
            f"the upstream rejected the request (HTTP {status}): {text}", **common
        )
    return TransientProviderError(
        f"the upstream failed (HTTP {status}): {text}", retry_after=fault.retry_after, **common
    )


def _rate_limited(
    fault: UpstreamFault, rate_limit: RateLimitInfo, text: str, request_id: str | None
) -> RateLimited:
    """A 429 with its figures; no ``Retry-After`` but nothing left: wait for the reset."""
    retry_after = fault.retry_after
    if retry_after is None and rate_limit.remaining == 0:
        retry_after = rate_limit.reset_after
    return RateLimited(
        f"the upstream rate limit was hit (HTTP 429): {text}",
        retry_after=retry_after,
        limit=rate_limit.limit,
        remaining=rate_limit.remaining,
        reset_after=rate_limit.reset_after,
        status=fault.status,
        upstream_request_id=request_id,
    )


def quota_error(
    verdict: QuotaVerdict, status: int, text: str, request_id: str | None
) -> QuotaExhausted:
    """The error for a quota waiting cannot fix, saying when it resets (or who must act)."""
    if verdict.kind is QuotaKind.NO_CREDITS:
        message = (
            f"the upstream account has no credits or no quota for this model (HTTP {status}); "
            f"add credits or enable billing, then retry: {text}"
        )
    else:
        message = (
            f"the upstream's daily quota is used up (HTTP {status}); it resets at "
            f"{format_reset(verdict.reset_at)}: {text}"
        )
    return QuotaExhausted(
        message,
        reset_at=verdict.reset_at,
        no_credits=verdict.kind is QuotaKind.NO_CREDITS,
        status=status,
        upstream_request_id=request_id,
    )


def format_reset(reset_at: float | None) -> str:
    """A reset time for people: ``2026-12-01 08:00 UTC``, or ``an unknown time``."""
    if reset_at is None:
        return "an unknown time"
    return datetime.fromtimestamp(reset_at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def fault_from_body(
    status: int,
    body: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    *,
    raw: bytes = b"",
    now: float | None = None,
    zone: timezone | ZoneInfo = UTC,
) -> UpstreamFault:
    """Read ``{error: {code, message, status, metadata, details}}`` (OpenRouter, Gemini, OpenAI).

    A numeric ``error.code`` inside an HTTP 200 is the real status (OpenRouter does this).
    ``zone`` is where the provider's day ends (daily quotas reset at its midnight).
    """
    error = body.get("error") if body is not None else None
    retry_after = parse_retry_after(headers.get("retry-after"))
    wall = time.time() if now is None else now
    if not isinstance(error, Mapping):
        message = error if isinstance(error, str) else raw[:300].decode("utf-8", "replace")
        quota = classify_quota(
            status=status, code="", message=message, details=None, reset_after=None, now=wall
        )
        return UpstreamFault(status=status, message=message, retry_after=retry_after, quota=quota)
    code = error.get("code")
    if isinstance(code, int) and 400 <= code <= 599 and status < 400:
        status = code
    kind = str(error.get("status") or error.get("type") or (code if isinstance(code, str) else ""))
    if isinstance(code, str) and code and kind != code and status != 429:
        kind = code  # OpenAI: type is a family, code the precise reason (moderation_blocked)
    message = str(error.get("message") or kind or "")
    metadata = error.get("metadata")
    raw_meta = ""
    if isinstance(metadata, Mapping):
        raw_meta = str(metadata.get("raw") or "")
        if raw_meta:
            message = f"{message} ({raw_meta})"
    retry_after = _retry_delay(error.get("details"), retry_after)
    if kind == "RESOURCE_EXHAUSTED":
        status = 429
    quota = classify_quota(
        status=status,
        code=str(code or "") if isinstance(code, str) else kind,
        message=message,
        details=error.get("details"),
        reset_after=_reset_hint(headers, metadata, wall),
        now=wall,
        zone=zone,
    )
    return UpstreamFault(
        status=status,
        message=message,
        code=kind,
        retry_after=retry_after,
        content_policy=_looks_like_policy(f"{kind} {code}", message, metadata),
        bad_key=_says_bad_key(error.get("details"), message),
        quota=quota,
    )


def _reset_hint(headers: Mapping[str, str], metadata: object, now: float) -> float | None:
    """``X-RateLimit-Reset`` from the headers, or the copy OpenRouter puts in the body."""
    value = headers.get("x-ratelimit-reset")
    if value is None and isinstance(metadata, Mapping):
        copied = metadata.get("headers")
        if isinstance(copied, Mapping):
            lowered = {str(k).lower(): v for k, v in copied.items()}
            found = lowered.get("x-ratelimit-reset")
            value = None if found is None else str(found)
    return parse_reset(value, now=now)


def _retry_delay(details: object, fallback: float | None) -> float | None:
    if not isinstance(details, list):
        return fallback
    for detail in details:
        if isinstance(detail, Mapping) and "retryDelay" in detail:
            delay = parse_duration(detail["retryDelay"])
            if delay is not None:
                return delay
    return fallback


def _says_bad_key(details: object, message: str) -> bool:
    if "api key not valid" in message.lower():
        return True
    if not isinstance(details, list):
        return False
    return any(isinstance(d, Mapping) and d.get("reason") == "API_KEY_INVALID" for d in details)


def _looks_like_policy(kind: str, message: str, metadata: object) -> bool:
    if isinstance(metadata, Mapping) and ("reasons" in metadata or "flagged_input" in metadata):
        return True
    lowered = f"{kind} {message}".lower()
    return any(word in lowered for word in _POLICY_WORDS)


def error_for_response(
    response: UpstreamResponse, *, secret: str | None, zone: timezone | ZoneInfo = UTC
) -> ProviderError:
    """The typed error for a non-2xx answer, reading the upstream's error body if it is JSON."""
    try:
        body = json.loads(response.body) if response.body else None
    except (ValueError, UnicodeDecodeError):
        body = None
    fault = fault_from_body(
        response.status,
        body if isinstance(body, dict) else None,
        response.headers,
        raw=response.body,
        zone=zone,
    )
    # OpenRouter copies its X-RateLimit-* headers into error.metadata.headers as well.
    rate_limit = merged(response.rate_limit, rate_limit_from_body(body))
    return error_for(fault, rate_limit=rate_limit, request_id=response.request_id, secret=secret)
