"""One attempt's deadline, shared by the dispatcher and a fleet worker, on the injected clock."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest
from scheduler_helpers import make_job

from slidebatch.errors import PermanentProviderError, TransientProviderError
from slidebatch.fleet.attempt import Attempt, AttemptParts
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.scheduler.deadline import call_provider
from slidebatch.scheduler.saves import Saves
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.memory_log import MemoryLog

UNTIL_HUNG = 30.0  # real seconds only a deadline on the wrong clock reaches


class _Provider:
    """Hangs, or raises what it is given."""

    name = "stub"

    def __init__(self, error: BaseException | None = None) -> None:
        self._error = error

    async def generate(self, request: ImageRequest) -> ImageResult:
        if self._error is not None:
            raise self._error
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def _request() -> ImageRequest:
    return make_job("b", 1).request


async def test_a_hung_call_ends_at_the_deadline_on_the_injected_clock() -> None:
    """600 virtual seconds pass, not real ones; the error is an overload that says so."""
    clock = FakeClock()
    call = call_provider(_Provider(), _request(), clock=clock, seconds=600, log=MemoryLog())
    with pytest.raises(TransientProviderError, match="no answer within 600 s") as caught:
        await asyncio.wait_for(call, UNTIL_HUNG)
    assert caught.value.overload
    assert clock.now() == 600


async def test_a_provider_bug_is_transient_and_logged_once() -> None:
    """An unexpected exception is retried, never fatal, and logged as one event."""
    log = MemoryLog()
    call = call_provider(
        _Provider(KeyError("x")), _request(), clock=FakeClock(), seconds=5, log=log
    )
    with pytest.raises(TransientProviderError, match="unexpected KeyError from provider stub"):
        await call
    assert [e.name for e in log.events] == ["provider_unexpected_error"]


async def test_a_provider_error_passes_through_unchanged() -> None:
    """The provider's own typed error is not rewrapped."""
    refusal = PermanentProviderError("content policy")
    call = call_provider(
        _Provider(refusal), _request(), clock=FakeClock(), seconds=5, log=MemoryLog()
    )
    with pytest.raises(PermanentProviderError) as caught:
        await call
    assert caught.value is refusal


async def test_a_fleet_attempt_uses_the_injected_clock_too() -> None:
    """A worker's attempt ends at the same deadline on its clock (it used the loop's before)."""
    clock = FakeClock()
    parts = SimpleNamespace(provider=_Provider(), clock=clock, timeout=600.0, log=MemoryLog())
    attempt = Attempt(cast(AttemptParts, parts), saves=cast(Saves, object()))
    with pytest.raises(TransientProviderError, match="no answer within 600 s"):
        await asyncio.wait_for(attempt._call(_request()), UNTIL_HUNG)
    assert clock.now() == 600
