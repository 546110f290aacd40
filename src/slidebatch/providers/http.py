"""The upstream transport: one POST with a byte cap, its failures, and keys kept out of text.

Every remote provider sends one request through :func:`post_json`; what a failed answer means
is ``faults.py``'s job (:func:`~slidebatch.providers.faults.error_for_response`), what its
rate-limit headers say is ``ratelimit_headers.py``'s. Keys never leave this module in any
text: upstream messages pass through :func:`scrub` before they become part of an exception.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from slidebatch.errors import PermanentProviderError, ProviderError, TransientProviderError
from slidebatch.observability.scrub import mask_fragments, secret_fragments
from slidebatch.providers.base import RateLimitInfo
from slidebatch.providers.ratelimit_headers import rate_limit_from_headers

# Every upstream body is streamed and cut off past this (UPSTREAM_MAX_BODY_BYTES's default):
# a 4K PNG in base64 is ~30 MB.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
# Upstream texts are quoted in messages; a whole HTML error page is not useful there.
MAX_UPSTREAM_TEXT = 500
_MASK = "****"


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
