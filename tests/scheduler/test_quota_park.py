"""A quota that waiting minutes cannot fix parks the credential until it resets, unpaid."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
from scheduler_helpers import RecordingListener, make_jobs

from slidebatch.errors import QuotaExhausted
from slidebatch.scheduler.dispatcher import Dispatcher
from slidebatch.scheduler.gate import Gate
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.memory_log import MemoryLog
from slidebatch.testing.scripted_provider import Fail, ScriptedProvider

WALL0 = 1_800_000_000.0  # the wall clock when the fake clock reads 0


async def run_until_drained(
    provider: ScriptedProvider,
    gate: Gate,
    listener: RecordingListener,
    clock: FakeClock,
    jobs: int,
    log: MemoryLog,
) -> None:
    # max_attempts=1: any paid failure would end the slide, so success proves nothing was paid.
    policy = RetryPolicy(1, 0, 2.0, 60.0, random.Random(7), quota_recheck=900.0)
    dispatcher = Dispatcher(provider, gate, policy, clock=clock, attempt_timeout=120.0, log=log)
    loop = asyncio.create_task(dispatcher.run(listener))
    try:
        dispatcher.add_jobs("b", make_jobs("b", jobs), cap=None)
        await dispatcher.drain()
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


async def test_a_daily_cap_parks_the_gate_until_the_reset_and_spends_no_budget(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """After a daily cap nothing starts before the reset; then every slide is done, none paid."""
    log = MemoryLog()
    daily = QuotaExhausted("daily quota used up", reset_at=WALL0 + 5000.0, now=WALL0)
    provider = ScriptedProvider(clock, default_latency=1.0, script={"b/1": [Fail(daily)]})
    gate = Gate(clock=clock)
    await run_until_drained(provider, gate, listener, clock, 3, log)
    assert len(listener.of("ok")) == 3
    assert not listener.of("failed")
    later = [call.started for call in provider.calls if call.started > 0.5]
    assert later
    assert min(later) >= 5000.0, "no request while the quota is spent"
    assert len(provider.calls) <= 3 + 3, "each slide at most once before and once after"
    (retry,) = [e for e in listener.of("retry") if e.slide_key == 1]
    assert retry.delay == pytest.approx(5000.0, abs=1.0)
    assert gate.stats().parked_until is None  # the park is over
    assert len(log.named("upstream_quota_exhausted")) == 1


async def test_every_in_flight_quota_answer_is_said_once(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """Three slides in flight all hit 'no credits': one log line, all wait, none fails."""
    log = MemoryLog()
    empty = QuotaExhausted("no credits", reset_at=None, no_credits=True)
    script = {f"b/{k}": [Fail(empty)] for k in (1, 2, 3)}
    provider = ScriptedProvider(clock, default_latency=1.0, script=script)
    gate = Gate(clock=clock)
    await run_until_drained(provider, gate, listener, clock, 3, log)
    assert len(listener.of("ok")) == 3
    second = sorted(call.started for call in provider.calls)[3:]
    assert min(second) >= 900.0, "no credits: the credential rests for the recheck interval"
    assert len(log.named("upstream_quota_exhausted")) == 1
