"""Storage calls the engine cannot do without: retried until the database answers.

A slide's state change or a batch's final state that fails to store would leave the batch
``running`` for ever (and a paid image unrecorded). These calls wait out an outage instead,
with capped exponential backoff on the injected sleep, and log each failed try as the
pipeline event ``storage_retry`` (``details.action``, ``failures``, ``retry_in`` s, ``error``).
Only ``StorageUnavailable`` is retried: ``NotFound`` and ``Conflict`` are answers, and a lost
database (``StorageLost``: its SQLite file deleted or replaced) does not come back by
waiting, so it is raised at once and the engine fails the batch instead of going quiet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from slidebatch.observability.pipeline_log import EventLog
from slidebatch.storage.errors import StorageLost, StorageUnavailable

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

FIRST_WAIT = 0.05  # seconds before the first retry
MAX_WAIT = 5.0  # an outage of minutes is polled every 5 s, not hammered


class UntilAnswered:
    """Runs a storage call again and again while the database is unavailable."""

    def __init__(
        self,
        sleep: Sleep,
        *,
        first: float = FIRST_WAIT,
        cap: float = MAX_WAIT,
        log: EventLog | None = None,
    ) -> None:
        self._sleep = sleep
        self._log = log
        self._first = first
        self._cap = cap

    async def __call__(
        self, action: str, call: Callable[[], Awaitable[T]], *, batch_id: str | None = None
    ) -> T:
        """``call()``'s result, once the database answers; never gives up on an outage.

        ``batch_id``: the batch the call is for, named in its ``storage_retry`` events.
        """

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            if self._log is not None:
                self._log.event(
                    "storage_retry",
                    level="warning",
                    batch_id=batch_id,
                    details={
                        "action": action,
                        "failures": state.attempt_number,
                        "retry_in": round(state.upcoming_sleep, 3),
                        "error": str(error),
                    },
                )

        retrying = AsyncRetrying(
            sleep=self._sleep,
            wait=wait_exponential(multiplier=self._first, max=self._cap),
            retry=retry_if_exception(_waited_out),
            before_sleep=log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity stops only by returning or raising")


def _waited_out(error: BaseException) -> bool:
    """An outage is waited out; a lost database is not (it does not come back)."""
    return isinstance(error, StorageUnavailable) and not isinstance(error, StorageLost)
