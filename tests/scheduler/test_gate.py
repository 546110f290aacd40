"""The gate: window with opening burst, pauses on 429, AIMD of rate and in-flight cap, learning."""

from __future__ import annotations

import asyncio

import pytest

from slidebatch.errors import RateLimited, TransientProviderError
from slidebatch.providers.base import RateLimitInfo
from slidebatch.scheduler.gate import Gate, GateConfig, GateRegistry, Permit
from slidebatch.testing.clock import FakeClock


async def take(gate: Gate, count: int) -> list[Permit]:
    """Acquire ``count`` permits one after another."""
    return [await gate.acquire() for _ in range(count)]


def succeed(permits: list[Permit], info: RateLimitInfo | None = None) -> None:
    for permit in permits:
        permit.success(info)


async def test_burst_then_window() -> None:
    """3 per 60 s: three start at once, the next three one window later."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=3, window=60.0, margin=0.0), clock=clock)
    permits = await take(gate, 6)
    succeed(permits)
    assert [p.started_at for p in permits] == [0.0, 0.0, 0.0, 60.0, 60.0, 60.0]


async def test_margin_keeps_starts_off_the_window_edge() -> None:
    """The default margin (1% of the window, at most 0.5 s) delays the next window's start."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=2, window=10.0), clock=clock)
    permits = await take(gate, 3)
    assert permits[2].started_at == 10.1


async def test_the_default_margin_has_a_floor_for_short_windows() -> None:
    """A 6 s window still keeps 0.1 s off the edge (jitter does not scale with the window)."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=1, window=6.0), clock=clock)
    permits = await take(gate, 2)
    assert permits[1].started_at == 6.1
    tiny = Gate(GateConfig(rate=1, window=1.0), clock=clock)
    assert tiny.stats().margin == 0.05  # 5% of a tiny window
    assert Gate(GateConfig(rate=1, window=60.0), clock=clock).stats().margin == 0.5


async def test_in_flight_cap_waits_for_a_release() -> None:
    """With the cap full, the next start waits for a slot to free."""
    clock = FakeClock()
    gate = Gate(GateConfig(max_in_flight=2), clock=clock)
    first, _second = await take(gate, 2)

    async def finish_later() -> None:
        await clock.sleep(5.0)
        first.success()

    releaser = asyncio.create_task(finish_later())
    third = await gate.acquire()
    await releaser
    assert third.started_at == 5.0
    assert gate.stats().in_flight == 2


async def test_retry_after_pauses_all_dispatch() -> None:
    """A 429 with Retry-After 2.5 s holds every start until 2.5 s."""
    clock = FakeClock()
    gate = Gate(GateConfig(max_in_flight=10), clock=clock)
    first = await gate.acquire()
    first.failure(RateLimited("429", retry_after=2.5))
    assert gate.stats().paused_until == 2.5
    later = await take(gate, 3)
    assert all(p.started_at >= 2.5 for p in later)
    assert gate.stats().rate_limited_total == 1


async def test_429_cuts_the_rate_once_per_episode() -> None:
    """Two 429s of requests started before the cut halve the rate only once."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=10, window=10.0, margin=0.0), clock=clock)
    permits = await take(gate, 10)
    permits[0].failure(RateLimited("429", retry_after=1.0))
    permits[1].failure(RateLimited("429", retry_after=1.0))
    assert gate.stats().effective_rate == 5.0
    succeed(permits[2:])


async def test_rate_recovers_additively_while_saturated_and_clean() -> None:
    """After a cut the rate grows by one per clean saturated window, up to the configured rate."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=10, window=10.0, margin=0.0), clock=clock)
    first = await gate.acquire()
    first.failure(RateLimited("429", retry_after=0.5))
    seen: list[float] = []
    while clock.now() < 200.0:
        permit = await gate.acquire()
        permit.success()
        rate = gate.stats().effective_rate
        assert rate is not None
        seen.append(rate)
    assert seen[0] == 5.0
    assert seen == sorted(seen)
    assert max(seen) == 10.0
    # One step per window at most: from 5 to 10 takes at least five windows.
    assert seen.index(10.0) >= sum(1 for r in seen if r < 10.0)
    assert gate.stats().rate_limited_total == 1


async def test_rate_does_not_grow_when_not_saturated() -> None:
    """A gate that never waits on its window learns nothing, so its rate stays cut."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=10, window=10.0, margin=0.0), clock=clock)
    (first,) = await take(gate, 1)
    first.failure(RateLimited("429", retry_after=0.1))
    for _ in range(10):
        await clock.sleep(10.0)
        (permit,) = await take(gate, 1)
        permit.success()
    assert gate.stats().effective_rate == 5.0


async def test_starts_are_paced_after_a_pause() -> None:
    """After a Retry-After pause the first window is paced (W/rate apart), not a stampede."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=4, window=8.0, margin=0.0), clock=clock)
    permits = await take(gate, 4)
    permits[0].failure(RateLimited("429", retry_after=10.0))
    succeed(permits[1:])
    after = await take(gate, 3)
    succeed(after)
    starts = [p.started_at for p in after]
    assert starts[0] == 10.0
    assert starts[1] - starts[0] >= 4.0  # rate cut to 2 per 8 s: one start per 4 s
    assert starts[2] - starts[1] >= 4.0


async def test_overload_cuts_the_in_flight_cap_and_successes_restore_it() -> None:
    """Overloads on half the answers halve the in-flight cap; clean successes grow it back."""
    clock = FakeClock()
    gate = Gate(GateConfig(max_in_flight=8), clock=clock)
    permits = await take(gate, 8)
    permits[0].failure(TransientProviderError("timeout", overload=True))
    permits[1].failure(TransientProviderError("503", overload=True))
    permits[2].failure(TransientProviderError("503", overload=True))
    assert gate.stats().in_flight_cap == 8  # three answers, three overloads: not yet a sample
    permits[3].failure(TransientProviderError("timeout", overload=True))
    assert gate.stats().in_flight_cap == 4  # from the 8 that were open at the first one
    permits[4].failure(TransientProviderError("503", overload=True))  # same episode
    assert gate.stats().in_flight_cap == 4
    assert gate.stats().overload_total == 5
    succeed(permits[5:])
    for expected in (5, 6, 7):
        batch = await take(gate, gate.stats().in_flight_cap)  # fill the cap, all succeed
        succeed(batch)
        assert gate.stats().in_flight_cap == expected


async def test_the_odd_hang_or_503_leaves_the_cap_alone() -> None:
    """A timeout with one request open, then a 503 among successes: bad luck, no cut."""
    clock = FakeClock()
    gate = Gate(GateConfig(max_in_flight=32), clock=clock)
    (lone,) = await take(gate, 1)
    lone.failure(TransientProviderError("timeout", overload=True))
    assert gate.stats().in_flight_cap == 32
    permits = await take(gate, 20)
    permits[0].failure(TransientProviderError("503", overload=True))
    succeed(permits[1:8])
    permits[8].failure(TransientProviderError("timeout", overload=True))
    succeed(permits[9:])
    assert gate.stats().in_flight_cap == 32
    assert gate.stats().overload_total == 3


async def test_plain_transient_errors_leave_the_cap_alone() -> None:
    """A malformed answer is not overload: the cap stays."""
    clock = FakeClock()
    gate = Gate(GateConfig(max_in_flight=8), clock=clock)
    (permit,) = await take(gate, 1)
    permit.failure(TransientProviderError("no image in answer"))
    assert gate.stats().in_flight_cap == 8


async def test_limit_learned_from_success_headers() -> None:
    """With no rate configured, X-RateLimit-Limit becomes the rate per window."""
    clock = FakeClock()
    gate = Gate(GateConfig(window=60.0, margin=0.0), clock=clock)
    (first,) = await take(gate, 1)
    first.success(RateLimitInfo(limit=5, remaining=4, reset_after=60.0))
    stats = gate.stats()
    assert (stats.learned_limit, stats.effective_rate) == (5, 5.0)
    permits = await take(gate, 5)
    succeed(permits)
    assert [p.started_at for p in permits] == [0.0, 0.0, 0.0, 0.0, 60.0]


async def test_limit_learned_from_a_429_is_not_cut() -> None:
    """A 429 that names the limit teaches it; ignorance is not congestion, so no cut."""
    clock = FakeClock()
    gate = Gate(GateConfig(window=60.0, max_in_flight=32), clock=clock)
    permits = await take(gate, 8)
    permits[6].failure(RateLimited("429", retry_after=3.0, limit=5, remaining=0))
    stats = gate.stats()
    assert (stats.learned_limit, stats.effective_rate, stats.paused_until) == (5, 5.0, 3.0)


async def test_unknown_limit_429_without_figures_halves_what_passed() -> None:
    """No figures at all: the new rate is half of what the window let through."""
    clock = FakeClock()
    gate = Gate(GateConfig(window=60.0, max_in_flight=32), clock=clock)
    permits = await take(gate, 12)
    permits[-1].failure(RateLimited("429"))
    assert gate.stats().effective_rate == 6.0


async def test_an_explicit_higher_limit_beats_a_too_low_configuration() -> None:
    """Issue 13: the upstream's explicit figure beats UPSTREAM_RPM upwards too."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=3, window=60.0), clock=clock)
    (permit,) = await take(gate, 1)
    permit.success(RateLimitInfo(limit=100, remaining=99, reset_after=60.0))
    assert gate.stats().effective_rate == 100.0
    assert gate.stats().learned_limit == 100


async def test_without_a_figure_the_configured_rate_stays_the_ceiling() -> None:
    """No explicit figure: AIMD never grows past the configured rate."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=3, window=60.0, margin=0.0), clock=clock)
    for _ in range(12):
        succeed(await take(gate, 3))
    assert gate.stats().effective_rate == 3.0
    assert gate.stats().learned_limit is None


async def test_remaining_zero_waits_for_the_reset() -> None:
    """An answer saying nothing remains pauses dispatch until its reset, without a cut."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=10, window=60.0), clock=clock)
    (permit,) = await take(gate, 1)
    permit.success(RateLimitInfo(limit=10, remaining=0, reset_after=30.0))
    (later,) = await take(gate, 1)
    assert later.started_at == 30.0
    assert gate.stats().effective_rate == 10.0


async def test_per_day_cap() -> None:
    """Three per day: the fourth waits a day after the first."""
    clock = FakeClock()
    gate = Gate(GateConfig(per_day=3), clock=clock)
    permits = await take(gate, 4)
    assert permits[3].started_at == 86_400.0


async def test_abandoned_permit_frees_its_window_slot() -> None:
    """A permit given back unused does not count against the window."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=1, window=60.0), clock=clock)
    (permit,) = await take(gate, 1)
    permit.abandon()
    (again,) = await take(gate, 1)
    assert again.started_at == 0.0
    assert gate.stats().requests_total == 1


async def test_stats_report_latency_percentiles() -> None:
    """p50/p95 come from the clock time between start and success."""
    clock = FakeClock()
    gate = Gate(clock=clock)
    for seconds in range(1, 21):
        (permit,) = await take(gate, 1)
        await clock.sleep(float(seconds))
        permit.success()
    stats = gate.stats()
    assert (stats.latency_p50, stats.latency_p95) == (10.0, 19.0)
    assert stats.requests_total == 20


def test_registry_shares_one_gate_per_credential() -> None:
    """Same credential, same gate; another credential, another gate."""
    registry = GateRegistry(GateConfig(rate=20), clock=FakeClock())
    assert registry.gate_for("a") is registry.gate_for("a")
    assert registry.gate_for("a") is not registry.gate_for("b")
    assert set(registry.stats()) == {"a", "b"}


async def test_a_lower_limit_in_a_429_overrides_a_too_high_configuration() -> None:
    """Configured 20 but the upstream says 15: the ceiling becomes 15, without a further cut."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=20, window=60.0), clock=clock)
    permits = await take(gate, 16)
    permits[-1].failure(RateLimited("429", retry_after=60.0, limit=15, remaining=0))
    stats = gate.stats()
    assert (stats.configured_rate, stats.learned_limit, stats.effective_rate) == (20, 15, 15.0)


async def test_a_skew_429_at_the_window_edge_pauses_without_a_cut() -> None:
    """At our full rate, a 429 asking for a moment is skew: pause, widen the margin, no cut."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=20, window=60.0), clock=clock)  # margin 0.5 s
    succeed(await take(gate, 20))
    edge = await gate.acquire()
    assert edge.started_at == 60.5
    edge.failure(RateLimited("429", retry_after=0.2, limit=20, remaining=0))
    stats = gate.stats()
    assert stats.effective_rate == 20.0
    assert (stats.skew_total, stats.rate_limited_total) == (1, 1)
    assert stats.margin == 0.9  # 0.5 + 2 * 0.2, above 1.5 * 0.5
    # Issue 13: the refused start stays counted (an upstream may count it): 19 of the second
    # window start as soon as the first has left the wider margin (60 + 0.9), the last one
    # when the refused start leaves (60.5 + 60.9).
    second = await take(gate, 20)
    assert [p.started_at for p in second] == [60.9] * 19 + [121.4]


async def test_refusals_the_upstream_says_it_did_not_count_free_their_slots() -> None:
    """Three of five refused at the edge; a success then says 2 remain: two slots start now."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=5, window=60.0, margin=0.5), clock=clock)
    succeed(await take(gate, 5))
    *refused, first, second = await take(gate, 5)
    assert first.started_at == 60.5
    for permit in refused:
        permit.failure(RateLimited("429", retry_after=0.1, limit=5, remaining=0))
    await clock.sleep(4.5)
    first.success(RateLimitInfo(limit=5, remaining=2, reset_after=55.5))
    assert [p.started_at for p in await take(gate, 2)] == [65.0, 65.0]
    assert gate.stats().effective_rate == 5.0
    # A later figure, from before those two arrived, frees nothing twice: the third refusal
    # was judged counted, and the window is full until the edge burst leaves it.
    second.success(RateLimitInfo(limit=5, remaining=2, reset_after=55.0))
    next_start = gate.stats().next_start
    assert next_start is not None
    assert next_start > 120.0


async def test_a_widened_margin_moves_the_next_window() -> None:
    """After a skew 429 the following windows keep the wider margin from the edge."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=2, window=60.0, margin=0.5), clock=clock)
    succeed(await take(gate, 2))
    edge = await gate.acquire()
    edge.failure(RateLimited("429", retry_after=0.1, limit=2, remaining=0))
    assert gate.stats().margin == 0.75  # 1.5 * 0.5 beats 0.5 + 2 * 0.1
    second = await take(gate, 2)
    succeed(second)
    third = await take(gate, 1)
    assert third[0].started_at == second[0].started_at + 60.75


async def test_skew_429s_of_one_burst_widen_the_margin_once() -> None:
    """Several edge 429s of starts made before the widening count as one episode."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=3, window=60.0, margin=0.5), clock=clock)
    succeed(await take(gate, 3))
    edge = await take(gate, 3)
    for permit in edge:
        permit.failure(RateLimited("429", retry_after=0.1, limit=3, remaining=0))
    stats = gate.stats()
    assert (stats.margin, stats.skew_total, stats.effective_rate) == (0.75, 3, 3.0)


async def test_a_skew_429_at_the_widest_margin_pauses_without_a_cut() -> None:
    """With the margin at 5% of the window, an edge 429 asking for a moment while the window
    is full of our own starts is still jitter: a pause for the moment, no cut."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=2, window=60.0, margin=3.0), clock=clock)  # already 5% of 60 s
    succeed(await take(gate, 2))
    edge = await gate.acquire()
    assert edge.started_at == 63.0
    edge.failure(RateLimited("429", retry_after=0.1, limit=2, remaining=0))
    stats = gate.stats()
    assert (stats.effective_rate, stats.skew_total, stats.margin) == (2.0, 1, 3.0)
    assert stats.paused_until == pytest.approx(63.1)
    # A later episode at the widest margin is jitter too: the rate stays.
    succeed(await take(gate, 1))
    again = await gate.acquire()
    again.failure(RateLimited("429", retry_after=0.1, limit=2, remaining=0))
    assert (gate.stats().effective_rate, gate.stats().skew_total) == (2.0, 2)


async def test_a_short_429_at_the_widest_margin_below_our_rate_cuts() -> None:
    """At the widest margin, a quick 429 while our window holds fewer than our rate is no
    jitter of ours: someone else shares the limit, and the rate is cut."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=4, window=60.0, margin=3.0), clock=clock)
    first, second = await take(gate, 2)
    second.failure(RateLimited("429", retry_after=0.1, limit=4, remaining=0))
    first.success()
    assert (gate.stats().effective_rate, gate.stats().skew_total) == (2.0, 0)


async def test_a_short_429_below_our_rate_is_still_a_surprise() -> None:
    """A quick 429 while our window is far from full means someone else shares the limit."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=20, window=60.0), clock=clock)
    (permit,) = await take(gate, 1)
    permit.failure(RateLimited("429", retry_after=0.2, limit=20, remaining=0))
    assert gate.stats().effective_rate == 10.0
    assert gate.stats().skew_total == 0


async def test_remaining_zero_pause_is_not_added_to_the_window() -> None:
    """A remaining=0 answer whose reset matches the window costs nothing beyond the window."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=2, window=60.0, margin=0.5), clock=clock)
    first, second = await take(gate, 2)
    await clock.sleep(9.0)
    second.success(RateLimitInfo(limit=2, remaining=0, reset_after=51.0))  # frees at 60.0
    first.success()
    (third,) = await take(gate, 1)
    assert third.started_at == 60.5


async def test_a_burst_of_edge_429s_is_one_skew_episode_even_at_the_widest_margin() -> None:
    """The burst whose first 429 widened the margin to its widest cuts nothing with the rest."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=3, window=60.0, margin=0.5), clock=clock)
    succeed(await take(gate, 3))
    edge = await take(gate, 3)
    for permit in edge:
        permit.failure(RateLimited("429", retry_after=1.5, limit=3, remaining=0))
    stats = gate.stats()
    assert stats.margin == 3.0  # 0.5 + 2 * 1.5 reaches the widest, 5% of 60 s
    assert (stats.skew_total, stats.effective_rate) == (3, 3.0)


async def test_a_start_counts_from_when_its_request_was_sent() -> None:
    """A permit whose request left 0.3 s after it was granted frees its slot 0.3 s later."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=1, window=10.0, margin=0.0), clock=clock)
    permit = await gate.acquire()
    await clock.sleep(0.3)
    permit.sent()
    assert permit.started_at == 0.3
    permit.success()
    assert (await gate.acquire()).started_at == 10.3
