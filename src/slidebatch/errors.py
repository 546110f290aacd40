"""The one exception tree of slidebatch.

::

    SlidebatchError
    ├── ConfigError                 settings that cannot work together (fails at start)
    ├── InputError                  a deck or request the user must fix            -> 400/422
    │   └── LimitExceeded           a bounded input went past its limit           -> 413/422
    ├── NotFound                    no such batch / slide / key (or not yours)    -> 404
    ├── Conflict                    the operation does not fit the current state  -> 409
    ├── AuthError                   missing, wrong or revoked API key             -> 401
    ├── Forbidden                   a known key without the role the call needs   -> 403
    ├── QuotaExceeded               a key went past its quota (retry_after)       -> 429
    ├── SlideFailed                 a one-slide call whose slide ended in error   -> 502
    └── ProviderError               one failed attempt at the upstream
        ├── RateLimited             429 / RESOURCE_EXHAUSTED (retry_after, limits)
        ├── TransientProviderError  5xx, timeouts, malformed or imageless answers
        ├── QuotaExhausted          a quota waiting cannot fix soon (reset_at, no_credits)
        └── PermanentProviderError  bad key, bad request, unknown model, over-cap image
            └── Refused             the model will not draw this (content policy, safety)

Retryability lives on the error: the scheduler reads ``retryable`` and ``retry_after``
and never inspects messages. Foreign exceptions (httpx, SQLAlchemy) are translated at
the edge with ``raise ... from exc``.
"""

from __future__ import annotations

import re
import time

# A stored or shown error is a sentence, not an upstream's whole body.
MAX_ERROR_CHARS = 300
_DATA_URI = re.compile(r"data:[\w/+.-]*;base64,[A-Za-z0-9+/=_-]*", re.IGNORECASE)
# A long run of the base64 alphabet is image bytes or a key, never words.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{64,}={0,2}")


def bounded_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` on one line, without data URIs or base64 runs, at most ``limit`` characters."""
    text = _DATA_URI.sub("[data URI]", text)
    text = _BASE64_RUN.sub("[base64]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SlidebatchError(Exception):
    """Root of every error slidebatch raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(SlidebatchError):
    """Settings that cannot work together; the program stops at start."""


class InputError(SlidebatchError):
    """A deck, file or request that the user has to fix."""


class LimitExceeded(InputError):
    """A client-controlled input went past a configured limit."""

    def __init__(self, message: str, *, limit_name: str, limit: int | float) -> None:
        super().__init__(message)
        self.limit_name = limit_name
        self.limit = limit


class NotFound(SlidebatchError):
    """No such object, or it belongs to someone else (never say which)."""


class Conflict(SlidebatchError):
    """The operation does not fit the object's current state."""


class AuthError(SlidebatchError):
    """Missing, wrong or revoked credentials."""


class Forbidden(SlidebatchError):
    """The caller is known but may not do this (an admin-only call from a user key)."""


class SlideFailed(SlidebatchError):
    """A synchronous one-slide call whose slide failed (refused, out of attempts...)."""

    def __init__(self, message: str, *, batch_id: str, slide_id: str) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.slide_id = slide_id


class QuotaExceeded(SlidebatchError):
    """An API key went past one of its quotas."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderError(SlidebatchError):
    """One failed attempt at an image upstream.

    ``status`` is the upstream's HTTP status when there was one; ``upstream_request_id``
    helps support requests. Messages carry the upstream's own text, never a key.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        upstream_request_id: str | None = None,
    ) -> None:
        super().__init__(bounded_text(message))
        self.status = status
        self.retry_after = retry_after
        self.upstream_request_id = upstream_request_id

    @property
    def kind(self) -> str:
        """Short stable name for logs and metrics (``rate_limited``, ``transient``...)."""
        return "provider_error"


class RateLimited(ProviderError):
    """The upstream said slow down; ``retry_after`` and the X-RateLimit figures if sent."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        retry_after: float | None = None,
        upstream_request_id: str | None = None,
        limit: int | None = None,
        remaining: int | None = None,
        reset_after: float | None = None,
    ) -> None:
        super().__init__(
            message, status=status, retry_after=retry_after, upstream_request_id=upstream_request_id
        )
        self.limit = limit
        self.remaining = remaining
        self.reset_after = reset_after

    @property
    def kind(self) -> str:
        return "rate_limited"


class TransientProviderError(ProviderError):
    """Worth another attempt: 5xx, timeout, connection error, malformed or imageless answer."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        upstream_request_id: str | None = None,
        overload: bool = False,
    ) -> None:
        super().__init__(
            message, status=status, retry_after=retry_after, upstream_request_id=upstream_request_id
        )
        # 503s and timeouts mean "too much in flight": the gate cuts its in-flight cap on these.
        self.overload = overload

    @property
    def kind(self) -> str:
        return "transient"


class PermanentProviderError(ProviderError):
    """Another attempt would fail the same way: bad key, policy block, bad request."""

    retryable = False

    @property
    def kind(self) -> str:
        return "permanent"


class Refused(PermanentProviderError):
    """The model will not draw this prompt (content policy, safety, recitation...).

    ``reason`` is the upstream's own code (``IMAGE_SAFETY``, ``content_filter``...); the
    message carries its explanation. Never retried: the same prompt gets the same answer.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status: int | None = None,
        upstream_request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, upstream_request_id=upstream_request_id)
        self.reason = reason

    @property
    def kind(self) -> str:
        return "refused"


class QuotaExhausted(ProviderError):
    """A quota that waiting minutes cannot fix: a daily cap, a zero limit, no credits.

    ``reset_at`` is the wall-clock epoch second when the upstream will accept work again
    (a daily cap resets at the provider's midnight), ``retry_after`` the seconds until then;
    both ``None`` when nobody can say (no credits: someone has to pay). The credential's gate
    parks until then; the slide keeps its retry budget and waits.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        reset_at: float | None,
        no_credits: bool = False,
        status: int | None = 429,
        upstream_request_id: str | None = None,
        now: float | None = None,
    ) -> None:
        # retry_after: seconds until the reset as of now (None: no reset known).
        wall = time.time() if now is None else now
        wait = None if reset_at is None else max(0.0, reset_at - wall)
        super().__init__(
            message, status=status, retry_after=wait, upstream_request_id=upstream_request_id
        )
        self.reset_at = reset_at
        self.no_credits = no_credits

    @property
    def kind(self) -> str:
        return "no_credits" if self.no_credits else "quota_exhausted"
