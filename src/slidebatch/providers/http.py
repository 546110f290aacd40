"""Shared upstream HTTP helpers: headers, the status -> error table, transport failures.

Every remote provider sends one request through :func:`post_json` and turns a failed answer
into a typed error with :func:`error_for_response`. Keys never leave this module in any text:
upstream messages pass through :func:`scrub` before they become part of an exception.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from slidebatch.errors import (
    PermanentProviderError,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Refused,
    TransientProviderError,
)
from slidebatch.observability.scrub import mask_fragments, secret_fragments
from slidebatch.providers.base import RateLimitInfo
from slidebatch.providers.quota import QuotaKind, QuotaVerdict, classify_quota
from slidebatch.providers.ratelimit_headers import (
    merged,
    rate_limit_from_body,
    rate_limit_from_headers,
)
from slidebatch.providers.ratelimit_headers import parse_duration as parse_duration
from slidebatch.providers.ratelimit_headers import parse_reset as parse_reset
from slidebatch.providers.ratelimit_headers import parse_retry_after as parse_retry_after

# Every upstream body is streamed and cut off past this (UPSTREAM_MAX_BODY_BYTES's default):
# a 4K PNG in base64 is ~30 MB.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
# Upstream texts are quoted in messages; a whole HTML error page is not useful there.
MAX_UPSTREAM_TEXT = 500
_MASK = "****"
_POLICY_WORDS = (
    "content policy",
    "content_policy",
    "moderation",
    "flagged",
    "safety system",
)


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """What came back from one POST, before the provider reads its body."""

    status: int
    headers: httpx.Headers
    body: bytes
    rate_limit: RateLimitInfo
    request_id: str | None


def credential_id(name: str, base_url: str, api_key: str) -> str:
    """``name:`` + a short sha256 of base URL and key: names the account, never reveals the key."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()
    return f"{name}:{digest[:12]}"


def scrub(text: str, secret: str | None) -> str:
    """``text`` without ``secret``, any 8+ character piece of it (any case) or its base64.

    Upstreams echo keys in 401 texts, sometimes cut, upper-cased or encoded.
    """
    if not secret:
        return text
    return mask_fragments(text.replace(secret, _MASK), secret_fragments(secret))


def quote_upstream(text: str, secret: str | None) -> str:
    """Upstream text fit for a message: scrubbed, one line, bounded."""
    text = " ".join(scrub(text, secret).split())
    return text if len(text) <= MAX_UPSTREAM_TEXT else text[: MAX_UPSTREAM_TEXT - 3] + "..."


def parse_rate_limit(headers: Mapping[str, str], *, now: float | None = None) -> RateLimitInfo:
    """The rate-limit figures of the headers (see ``ratelimit_headers``)."""
    return rate_limit_from_headers(headers, now=now)


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    socket_timeout: float,
    secret: str | None,
    max_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> UpstreamResponse:
    """One POST with a byte cap; failures become typed errors.

    The attempt's deadline is not here: the dispatcher owns it (``attempt_timeout``,
    ``LLM_TIMEOUT_SECONDS``) and cancels this call when it fires. ``socket_timeout`` (the
    same figure) only bounds each socket operation (connect, write, each read) as a transport
    setting; every one starts after the attempt did, so it cannot fire before the
    dispatcher's deadline. The body is streamed and refused past ``max_bytes``
    (``UPSTREAM_MAX_BODY_BYTES``), so a hostile or broken upstream cannot fill the memory;
    ``Content-Length`` is checked first.
    """
    try:
        request = client.build_request(
            "POST", url, json=payload, headers=dict(headers), timeout=httpx.Timeout(socket_timeout)
        )
        response = await client.send(request, stream=True)
        try:
            body = await read_capped(response, max_bytes, what="the upstream's answer")
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise transport_error(exc, secret=secret) from exc
    return UpstreamResponse(
        status=response.status_code,
        headers=response.headers,
        body=body,
        rate_limit=parse_rate_limit(response.headers),
        request_id=response.headers.get("x-request-id"),
    )


async def read_capped(response: httpx.Response, max_bytes: int, *, what: str) -> bytes:
    """A streamed response's body, refused (permanently) once it passes ``max_bytes``."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _body_too_large(what, int(declared), max_bytes)
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise _body_too_large(what, total, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _body_too_large(what: str, size: int, max_bytes: int) -> PermanentProviderError:
    return PermanentProviderError(
        f"{what} is larger than the cap ({size:,} > {max_bytes:,} bytes); not read further"
    )


def transport_error(exc: httpx.HTTPError, *, secret: str | None) -> ProviderError:
    """Translate an httpx failure: timeouts mean overload, connection trouble is transient."""
    detail = quote_upstream(str(exc) or type(exc).__name__, secret)
    if isinstance(exc, httpx.TimeoutException):
        return TransientProviderError(
            f"the upstream timed out ({type(exc).__name__}): {detail}", overload=True
        )
    if isinstance(exc, httpx.TransportError):
        return TransientProviderError(
            f"could not reach the upstream ({type(exc).__name__}): {detail}"
        )
    return TransientProviderError(f"the upstream request failed ({type(exc).__name__}): {detail}")


def decode_json(response: UpstreamResponse, *, secret: str | None) -> dict[str, Any]:
    """The body as a JSON object, or a transient "malformed answer" error."""
    try:
        body = json.loads(response.body)
    except (ValueError, UnicodeDecodeError) as exc:
        snippet = quote_upstream(response.body[:200].decode("utf-8", "replace"), secret)
        raise TransientProviderError(
            f"the upstream sent a malformed answer (HTTP {response.status}, not JSON): {snippet}",
            status=response.status,
            upstream_request_id=response.request_id,
        ) from exc
    if not isinstance(body, dict):
        raise TransientProviderError(
            f"the upstream sent a malformed answer (HTTP {response.status}, not a JSON object)",
            status=response.status,
            upstream_request_id=response.request_id,
        )
    return body


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
        retry_after = fault.retry_after
        if retry_after is None and rate_limit.remaining == 0:
            retry_after = rate_limit.reset_after
        return RateLimited(
            f"the upstream rate limit was hit (HTTP 429): {text}",
            retry_after=retry_after,
            limit=rate_limit.limit,
            remaining=rate_limit.remaining,
            reset_after=rate_limit.reset_after,
            **common,
        )
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
