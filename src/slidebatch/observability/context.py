"""The id of the HTTP request being served, readable by any log written while serving it.

The request-id middleware sets it; the audit log and ``logging`` records read it. A
``ContextVar`` (not a global) so concurrent requests each see their own.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token

_request_id: ContextVar[str | None] = ContextVar("slidebatch_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request this code runs for, or ``None`` outside a request."""
    return _request_id.get()


def set_request_id(request_id: str | None) -> Token[str | None]:
    """Make ``request_id`` current; pass the token to ``reset_request_id`` when done."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    """Restore the request id that was current before ``set_request_id``."""
    _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request) so formats can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True
