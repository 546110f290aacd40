"""Reading an upstream's rate-limit figures, in every format providers use (SPEC section 5).

* ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (OpenRouter; the reset is epoch
  milliseconds) and OpenAI's ``x-ratelimit-{limit,remaining,reset}-requests`` (the reset a
  Go duration such as ``6m0s`` or ``12ms``);
* the same headers copied into an error body's ``error.metadata.headers`` (OpenRouter does
  this, and some proxies drop the real headers);
* ``Retry-After``: delta seconds or an HTTP date;
* Gemini's ``RetryInfo.retryDelay``: a protobuf duration (``"37s"``).

A reset's unit is told by its shape and magnitude: an epoch time in milliseconds (>= 1e12),
an epoch time in seconds (>= 1e9), a duration (``6m0s``, ``1.5s``, ``12ms``), plain seconds,
an HTTP date or an ISO 8601 time. Every result is seconds from now, and ``None`` when the
figure gives no usable timing: unreadable, or zero, negative or already past. A reset "now"
or in the past on a 429 contradicts the refusal itself (a clock behind, a proxy's bug), and
read as "go now" it let every refused request be resent at once (an OpenAI-dialect 429 with
``x-ratelimit-reset-requests: -5`` drew 39 refusals in 51 requests); unknown, the gate's own
window and back-off apply.

No library was used: ``email.utils`` reads HTTP dates and ``datetime`` ISO times; the Go
duration grammar is one regular expression. pytimeparse reads neither ``12ms`` nor
epoch times, and the magnitude rule is ours to state.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from slidebatch.providers.base import RateLimitInfo

_EPOCH_MS_FLOOR = 1e12
_EPOCH_S_FLOOR = 1e9
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
# Header names of the figures, in order of preference.
_LIMIT = ("x-ratelimit-limit", "x-ratelimit-limit-requests")
_REMAINING = ("x-ratelimit-remaining", "x-ratelimit-remaining-requests")
_RESET = ("x-ratelimit-reset", "x-ratelimit-reset-requests")


def parse_duration(value: object) -> float | None:
    """A duration with units as seconds: ``"37s"``, ``"12.5s"``, ``"6m0s"``, ``"12ms"``, ``"1h2m"``.

    A bare number is not a duration here (its unit is unknown); ``None`` for anything else.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    total = 0.0
    at = 0
    for match in _DURATION.finditer(text):
        if match.start() != at:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        at = match.end()
    if at != len(text) or at == 0:
        return None
    return total if math.isfinite(total) else None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta seconds (fractions allowed) or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _date_in(value, now)
    return _ahead(seconds)


def parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """A reset time as seconds from now, whatever its format (see the module's docstring)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        duration = parse_duration(text)
        return _ahead(duration) if duration is not None else _date_in(text, now)
    wall = time.time() if now is None else now
    if number >= _EPOCH_MS_FLOOR:
        return _ahead(number / 1000.0 - wall)
    if number >= _EPOCH_S_FLOOR:
        return _ahead(number - wall)
    return _ahead(number)


def rate_limit_from_headers(
    headers: Mapping[str, str], *, now: float | None = None
) -> RateLimitInfo:
    """The limit, remaining and reset figures; unreadable or absent ones are ``None``.

    ``headers`` may be ``httpx.Headers`` or a plain dict from an error body (any case).
    """
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    return RateLimitInfo(
        limit=_parse_int(_first(lowered, _LIMIT)),
        remaining=_parse_int(_first(lowered, _REMAINING)),
        reset_after=parse_reset(_first(lowered, _RESET), now=now),
    )


def rate_limit_from_body(body: object, *, now: float | None = None) -> RateLimitInfo:
    """The figures an error body carries in ``error.metadata.headers`` (OpenRouter)."""
    if not isinstance(body, Mapping):
        return RateLimitInfo()
    error = body.get("error")
    metadata = error.get("metadata") if isinstance(error, Mapping) else None
    headers = metadata.get("headers") if isinstance(metadata, Mapping) else None
    if not isinstance(headers, Mapping):
        return RateLimitInfo()
    return rate_limit_from_headers(headers, now=now)


def merged(first: RateLimitInfo, second: RateLimitInfo) -> RateLimitInfo:
    """``first``'s figures, each missing one taken from ``second``."""
    return RateLimitInfo(
        limit=first.limit if first.limit is not None else second.limit,
        remaining=first.remaining if first.remaining is not None else second.remaining,
        reset_after=first.reset_after if first.reset_after is not None else second.reset_after,
    )


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in headers:
            return headers[name]
    return None


def _date_in(text: str, now: float | None) -> float | None:
    """An HTTP date or an ISO 8601 time as seconds from ``now`` (wall clock)."""
    when: datetime | None = None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        return None
    wall = time.time() if now is None else now
    return _ahead(when.timestamp() - wall)


def _ahead(seconds: float) -> float | None:
    """``seconds`` from now if that is a usable wait: finite and in the future."""
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _parse_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    # A count below zero is as unreadable as junk (read as 0, a limit of "-1" was a limit).
    return int(number) if math.isfinite(number) and number >= 0 else None
