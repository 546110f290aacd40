"""The one exception tree of slidebatch.

::

    SlidebatchError
    ├── ConfigError                 settings that cannot work together (fails at start)
    ├── InputError                  a deck or request the user must fix            -> 400/422
    │   └── LimitExceeded           a bounded input went past its limit           -> 413/422
    ├── NotFound                    no such batch / slide / key (or not yours)    -> 404
    ├── Conflict                    the operation does not fit the current state  -> 409
    ├── AuthError                   missing, wrong or revoked API key             -> 401
    ├── QuotaExceeded               a key went past its quota (retry_after)       -> 429
    └── ProviderError               one failed attempt at the upstream
        ├── RateLimited             429 / RESOURCE_EXHAUSTED (retry_after, limits)
        ├── TransientProviderError  5xx, timeouts, malformed or imageless answers
        └── PermanentProviderError  bad key, content policy, bad request, unknown model

Retryability lives on the error: the scheduler reads ``retryable`` and ``retry_after``
and never inspects messages. Foreign exceptions (httpx, SQLAlchemy) are translated at
the edge with ``raise ... from exc``.
"""

from __future__ import annotations


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
        super().__init__(message)
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
