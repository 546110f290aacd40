"""How the fake upstream words its rate-limit figures, in each provider's dialect (SPEC section 5).

* OpenRouter: ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (reset in epoch milliseconds),
  copied into a 429 body's ``error.metadata.headers``;
* OpenAI: ``x-ratelimit-{limit,remaining,reset}-requests`` (reset a Go duration: ``6m0s``,
  ``1.5s``, ``12ms``);
* Gemini: no rate-limit headers at all; a 429 says ``RetryInfo.retryDelay`` in its body.

``Retry-After`` is delta seconds, or an HTTP date when ``reset_style="http_date"``. The hostile
modes send what broken upstreams and relays send: garbage, negative figures, a reset already
past; ``strip_limit_headers`` is a relay that drops every rate-limit header (bodies pass).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from email.utils import formatdate
from typing import Literal

ResetStyle = Literal["seconds", "epoch_s", "epoch_ms", "duration", "http_date"]
HeaderDialect = Literal["openrouter", "openai", "gemini"]
Malformed = Literal["garbage", "negative", "past_reset"]

# What each shape sends when the config names no reset style (the real provider's format).
DEFAULT_RESET_STYLE: dict[str, ResetStyle] = {"openrouter": "epoch_ms", "openai": "duration"}
_PAST_S = 30.0  # how far in the past a "past_reset" reset lies
_GARBAGE = {"limit": "lots", "remaining": "n/a", "reset": "soon", "retry_after": "later"}


@dataclass(frozen=True, slots=True)
class Figures:
    """The window as it stands when the answer is sent: seconds are wall seconds from now."""

    limit: int
    remaining: int
    reset_after: float


def go_duration(seconds: float) -> str:
    """Seconds as Go's ``time.Duration.String()`` writes them: ``12ms``, ``1.5s``, ``6m0s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{_trim(seconds * 1000)}ms"
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    text = f"{_trim(secs)}s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


def _trim(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def format_reset(style: ResetStyle, after: float, wall: float) -> str:
    """A reset ``after`` seconds from the epoch time ``wall``, in ``style``.

    Whole-second formats (epoch seconds, HTTP dates) round up: a client that trusts them
    never comes back before the slot frees.
    """
    if style == "epoch_ms":
        return str(round((wall + after) * 1000))
    if style == "epoch_s":
        return str(math.ceil(wall + after))
    if style == "duration":
        return go_duration(after)
    if style == "http_date":
        return formatdate(math.ceil(wall + after), usegmt=True)
    return f"{after:.3f}"


def format_retry_after(style: ResetStyle, after: float, wall: float) -> str:
    """``Retry-After`` is delta seconds or an HTTP date; nothing else is standard."""
    if style == "http_date":
        return format_reset("http_date", after, wall)
    return f"{after:.3f}"


def limit_headers(
    dialect: HeaderDialect,
    figures: Figures,
    *,
    style: ResetStyle,
    wall: float,
    malformed: Malformed | None = None,
) -> dict[str, str]:
    """The rate-limit headers of ``dialect`` (none for Gemini, which sends none)."""
    if dialect == "gemini":
        return {}
    limit, remaining = str(figures.limit), str(figures.remaining)
    reset = format_reset(style, figures.reset_after, wall)
    if malformed == "garbage":
        limit, remaining, reset = _GARBAGE["limit"], _GARBAGE["remaining"], _GARBAGE["reset"]
    elif malformed == "negative":
        limit, remaining = f"-{figures.limit}", "-1"
        reset = "-" + format_reset("seconds", max(figures.reset_after, 1.0), wall)
    elif malformed == "past_reset":
        reset = _past(style, wall)
    if dialect == "openai":
        return {
            "x-ratelimit-limit-requests": limit,
            "x-ratelimit-remaining-requests": remaining,
            "x-ratelimit-reset-requests": reset,
        }
    return {
        "X-RateLimit-Limit": limit,
        "X-RateLimit-Remaining": remaining,
        "X-RateLimit-Reset": reset,
    }


def retry_after_header(
    wait: float, *, style: ResetStyle, wall: float, malformed: Malformed | None = None
) -> str:
    """The ``Retry-After`` value of a 429 whose slot frees in ``wait`` seconds."""
    if malformed == "garbage":
        return _GARBAGE["retry_after"]
    if malformed == "negative":
        return f"-{max(wait, 1.0):.3f}"
    if malformed == "past_reset":
        return formatdate(wall - _PAST_S, usegmt=True)
    return format_retry_after(style, wait, wall)


def retry_delay(wait: float, malformed: Malformed | None = None) -> str:
    """Gemini's ``RetryInfo.retryDelay`` (a protobuf duration: ``"37s"``, ``"0.250s"``)."""
    if malformed == "garbage":
        return _GARBAGE["reset"]
    if malformed == "negative":
        return f"-{max(wait, 1.0):.3f}s"
    if malformed == "past_reset":
        return "0s"
    return f"{wait:.3f}s"


def _past(style: ResetStyle, wall: float) -> str:
    """A reset that has already happened, in ``style`` (relative styles say zero)."""
    if style in ("epoch_ms", "epoch_s", "http_date"):
        return format_reset(style, -_PAST_S, wall)
    return format_reset(style, 0.0, wall)
