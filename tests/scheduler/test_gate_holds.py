"""The gate's holds: parks for quotas waiting cannot fix, and the cap on upstream pauses."""

from __future__ import annotations

import random

from slidebatch.errors import RateLimited, TransientProviderError
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.testing.clock import FakeClock


async def test_a_parked_gate_starts_nothing_until_the_instant_and_says_why() -> None:
    """park(until, reason) holds every start until ``until``; stats show both, then clear."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=10, window=60.0), clock=clock)
    gate.park(3600.0, "daily quota spent")
    stats = gate.stats()
    assert (stats.parked_until, stats.park_reason) == (3600.0, "daily quota spent")
    assert stats.next_start == 3600.0
    permit = await gate.acquire()
    assert permit.started_at == 3600.0
    permit.success()
    stats = gate.stats()
    assert (stats.parked_until, stats.park_reason) == (None, None)


async def test_an_earlier_park_does_not_shorten_a_later_one() -> None:
    """Two parks: the later instant and its reason hold."""
    gate = Gate(clock=FakeClock())
    gate.park(500.0, "no credits")
    gate.park(100.0, "daily quota spent")
    assert (gate.stats().parked_until, gate.stats().park_reason) == (500.0, "no credits")


async def test_a_huge_retry_after_pauses_for_the_cap_and_reports_blocked() -> None:
    """Retry-After 99999999 s: the gate pauses max_pause only, and says blocked until then."""
    clock = FakeClock()
    gate = Gate(GateConfig(max_pause=900.0), clock=clock)
    first = await gate.acquire()
    first.failure(RateLimited("429", retry_after=99_999_999.0))
    stats = gate.stats()
    assert stats.paused_until == 900.0
    assert stats.blocked
    assert stats.blocked_until == 99_999_999.0
    second = await gate.acquire()
    assert second.started_at == 900.0
    second.success()
    assert not gate.stats().blocked


async def test_a_success_sent_before_the_long_ask_does_not_clear_the_block() -> None:
    """Retry-After 86400 s: a request already in flight that then succeeds shows no change
    of mind, so the credential stays blocked; one started after the ask clears it."""
    clock = FakeClock()
    gate = Gate(GateConfig(max_pause=900.0), clock=clock)
    in_flight = await gate.acquire()
    refused = await gate.acquire()
    await clock.sleep(1.0)
    refused.failure(RateLimited("429", retry_after=86_400.0))
    await clock.sleep(18.0)
    in_flight.success()
    stats = gate.stats()
    assert stats.blocked_until == 86_401.0
    assert stats.next_start == 901.0
    later = await gate.acquire()
    later.success()
    assert not gate.stats().blocked


async def test_a_far_reset_with_nothing_remaining_is_capped_too() -> None:
    """A success saying remaining 0 until a far reset pauses for the cap and reports blocked."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=5, max_pause=60.0), clock=clock)
    permit = await gate.acquire()
    permit.success(RateLimitInfo(limit=5, remaining=0, reset_after=86_400.0))
    stats = gate.stats()
    assert (stats.paused_until, stats.blocked_until) == (60.0, 86_400.0)


async def test_an_overload_delay_beyond_the_cap_is_capped() -> None:
    """A 503 asking for an hour pauses for the 900 s cap."""
    clock = FakeClock()
    gate = Gate(clock=clock)
    permit = await gate.acquire()
    permit.failure(TransientProviderError("503", retry_after=3600.0, overload=True))
    assert gate.stats().paused_until == 900.0
    assert gate.stats().blocked_until == 3600.0


async def test_a_pause_within_the_cap_does_not_block() -> None:
    """Retry-After 30 s is an ordinary pause: not blocked."""
    clock = FakeClock()
    gate = Gate(clock=clock)
    permit = await gate.acquire()
    permit.failure(RateLimited("429", retry_after=30.0))
    assert gate.stats().paused_until == 30.0
    assert not gate.stats().blocked


def test_the_retry_delay_honours_retry_after_only_up_to_the_cap() -> None:
    """A slide's own wait after a 429 asking for days is cut to max_pause."""
    policy = RetryPolicy(4, 30, 2.0, 60.0, random.Random(1), max_pause=900.0)
    decision = policy.decide(RateLimited("429", retry_after=99_999_999.0), 0, 1)
    assert decision.retry
    assert decision.delay == 900.0
