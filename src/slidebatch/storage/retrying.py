"""Storage calls the engine cannot do without: retried until the database answers.

A slide's state change or a batch's final state that fails to store would leave the batch
``running`` for ever (and a paid image unrecorded). These calls wait out an outage instead,
with capped exponential backoff on the injected sleep, and log each failed try as an event.
Only ``StorageUnavailable`` is retried: ``NotFound`` and ``Conflict`` are answers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from slidebatch.storage.errors import StorageUnavailable

logger = logging.getLogger("slidebatch.storage")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

FIRST_WAIT = 0.05  # seconds before the first retry
MAX_WAIT = 5.0  # an outage of minutes is polled every 5 s, not hammered


class UntilAnswered:
    """Runs a storage call again and again while the database is unavailable."""

    def __init__(self, sleep: Sleep, *, first: float = FIRST_WAIT, cap: float = MAX_WAIT) -> None:
        self._sleep = sleep
        self._first = first
        self._cap = cap

    async def __call__(self, action: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``'s result, once the database answers; never gives up on an outage."""

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            logger.warning(
                "storage_retry",
                extra={
                    "action": action,
                    "failures": state.attempt_number,
                    "retry_in": round(state.upcoming_sleep, 3),
                    "error": str(error),
                },
            )

        retrying = AsyncRetrying(
            sleep=self._sleep,
            wait=wait_exponential(multiplier=self._first, max=self._cap),
            retry=retry_if_exception_type(StorageUnavailable),
            before_sleep=log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity stops only by returning or raising")
