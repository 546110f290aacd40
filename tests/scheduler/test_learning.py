"""Learned limits: the count, the window and a cold start that does not storm (issue 13)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from scheduler_helpers import RecordingListener, make_jobs, running

from slidebatch.core.bound import makespan_bound
from slidebatch.errors import RateLimited
from slidebatch.providers.base import ImageRequest, RateLimitInfo
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.scheduler.gate_core import GateCore
from slidebatch.scheduler.rate_control import OPENING_BURST
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.scripted_provider import ScriptedProvider

PROBE = 0.05


@dataclass(frozen=True)
class Run:
    makespan: float
    bound: float
    requests: int
    rate_limited: int
    ok: int

    @property
    def ratio(self) -> float:
        return self.makespan / self.bound

    @property
    def refused_share(self) -> float:
        return self.rate_limited / self.requests


async def harsh_run(config: GateConfig, *, slides: int = 50, seed: int = 1) -> Run:
    """A batch against 20 per 60 s that counts refusals and sends figures only on 429s."""
    rng = random.Random(seed)
    latencies = {key: rng.uniform(15.0, 30.0) for key in range(1, slides + 1)}
    clock = FakeClock()
    listener = RecordingListener(clock)

    def latency(request: ImageRequest) -> float:
        return latencies[request.slide.page_num]

    provider = ScriptedProvider(
        clock,
        default_latency=latency,
        upstream_limit=20,
        send_rate_headers=False,
        count_refused=True,
    )
    gate = Gate(config, clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", slides), cap=None)
        await dispatcher.drain()
    return Run(
        makespan=listener.finished_at("b"),
        bound=makespan_bound(list(latencies.values()), rate=20, window=60.0),
        requests=len(provider.calls),
        rate_limited=provider.count("rate_limited"),
        ok=len(listener.of("ok")),
    )


async def test_the_cold_start_probe_spaces_starts_until_the_first_429() -> None:
    """No limit known: after the opening burst starts are probe_gap apart; the first 429
    teaches 20 and the window."""
    clock = FakeClock()
    gate = Gate(GateConfig(window=60.0, window_configured=False, probe_gap=PROBE), clock=clock)
    permits = [await gate.acquire() for _ in range(21)]
    assert [round(p.started_at, 3) for p in permits[4:7]] == [0.0, 0.05, 0.1]
    refused = permits[-1]
    reset = permits[0].started_at + 15.0 - clock.now()  # the upstream's window is 15 s
    refused.failure(RateLimited("429", limit=20, remaining=0, reset_after=reset))
    stats = gate.stats()
    assert (stats.learned_limit, stats.effective_rate) == (20, 20.0)
    assert stats.window == 15.0
    assert stats.window_learned
    nxt = await gate.acquire()  # the refused start is counted: the second start must leave
    assert nxt.started_at == permits[1].started_at + 15.0 + stats.margin


async def test_the_first_five_starts_of_a_window_go_at_once_then_the_probe_spaces() -> None:
    """No limit known: a window's first OPENING_BURST starts are not spaced, the next are
    probe_gap apart, and a new window opens with a burst again."""
    clock = FakeClock()
    config = GateConfig(window=10.0, window_configured=False, probe_gap=PROBE, margin=0.0)
    gate = Gate(config, clock=clock)
    assert OPENING_BURST == 5
    first = [round((await gate.acquire()).started_at, 3) for _ in range(7)]
    assert first == [0.0] * 5 + [0.05, 0.1]
    await clock.sleep(10.2 - clock.now())  # every start of the first window has left it
    second = [round((await gate.acquire()).started_at, 3) for _ in range(6)]
    assert second == [10.2] * 5 + [10.25]


async def test_the_window_is_learned_from_a_retry_after_when_only_assumed() -> None:
    """No reset header: Retry-After against our own starts names an assumed window."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=5, window=60.0, window_configured=False), clock=clock)
    permits = [await gate.acquire() for _ in range(5)]
    await clock.sleep(1.0)
    permits[4].failure(RateLimited("429", retry_after=9.0))  # the first start leaves at 10 s
    stats = gate.stats()
    assert (stats.window, stats.effective_rate) == (10.0, 5.0)  # a lesson: no cut


async def test_a_configured_window_is_not_overruled_by_a_bare_retry_after() -> None:
    """Configured window + a 429 with Retry-After only: the window stays (no explicit reset)."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=2, window=60.0, margin=0.0), clock=clock)
    first, second = await gate.acquire(), await gate.acquire()
    first.failure(RateLimited("429", retry_after=5.0))
    second.success()
    assert gate.stats().window == 60.0


async def test_success_figures_correct_a_window_configured_ten_times_too_long() -> None:
    """Configured 600 s, the upstream resets after 60 s: two answers naming it win."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=20, window=600.0), clock=clock)
    permits = [await gate.acquire() for _ in range(20)]
    await clock.sleep(9.0)
    permits[0].success(RateLimitInfo(limit=20, remaining=0, reset_after=51.0))
    assert gate.stats().window == 600.0  # one answer alone may be a mismatch
    await clock.sleep(1.0)
    permits[1].success(RateLimitInfo(limit=20, remaining=0, reset_after=50.0))
    assert gate.stats().window == 60.0
    for permit in permits[2:]:
        permit.success()
    nxt = await gate.acquire()
    assert nxt.started_at == 60.0 + gate.stats().margin


async def test_a_window_longer_than_the_pause_cap_is_not_learned() -> None:
    """A reset of a day is a block, not a window: the window stays."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=1, window=60.0, max_pause=900.0), clock=clock)
    permit = await gate.acquire()
    permit.success(RateLimitInfo(limit=1, remaining=0, reset_after=86_400.0))
    assert gate.stats().window == 60.0
    assert gate.stats().blocked


async def test_nothing_configured_finishes_near_the_bound_with_few_429s() -> None:
    """Harsh upstream, nothing configured (60 s assumed is right here): within 1.15, <=5% 429s."""
    for seed in range(3):
        run = await harsh_run(
            GateConfig(window=60.0, window_configured=False, probe_gap=PROBE), seed=seed
        )
        assert run.ok == 50
        assert run.refused_share <= 0.05, run
        assert run.ratio <= 1.15, run


async def test_an_assumed_window_ten_times_too_long_is_learned_from_the_first_429() -> None:
    """Assumed 600 s against a 60 s upstream: the first 429's reset fixes it; within 1.15."""
    run = await harsh_run(GateConfig(window=600.0, window_configured=False, probe_gap=PROBE))
    assert run.ok == 50
    assert run.refused_share <= 0.05, run
    assert run.ratio <= 1.15, run


async def test_a_rate_configured_twice_too_high_converges() -> None:
    """UPSTREAM_RPM 40 against 20: the first 429 names 20; every slide done, near the bound."""
    run = await harsh_run(GateConfig(rate=40, window=60.0, probe_gap=PROBE))
    assert run.ok == 50
    assert run.ratio <= 1.15, run


async def test_a_configured_window_ten_times_too_long_is_probed_and_corrected() -> None:
    """RPM 20 and a 600 s window against a silent 60 s upstream: probing past the edge finds it."""
    run = await harsh_run(GateConfig(rate=20, window=600.0, probe_gap=PROBE))
    assert run.ok == 50
    assert run.refused_share <= 0.05, run
    assert run.ratio <= 1.15, run


async def test_a_right_window_is_confirmed_by_one_probe_429_and_probing_stops() -> None:
    """RPM 20 and the right window: one probe is refused (and confirms), no more after."""
    run = await harsh_run(GateConfig(rate=20, window=60.0, probe_gap=PROBE), slides=120)
    assert run.ok == 120
    assert run.rate_limited == 1, run


def _core_with_a_fleets_starts(window: float, *, configured: bool = True) -> tuple[GateCore, int]:
    """Starts as a fleet makes them: 13 in the upstream's window when it wrote its figures
    (at 68 s), and 3 more by other workers before the answer is read (at 69.9 s)."""
    config = GateConfig(rate=20, window=window, max_in_flight=32, window_configured=configured)
    core = GateCore(config, now=0.0)
    for at in [0.0] * 10 + [10.0, 11.0, 12.0]:
        core.start(at)
    answered = core.start(60.5)
    for _ in range(9):
        core.start(60.5)
    for at in (68.5, 69.0, 69.5):
        core.start(at)
    return core, answered


# Written at 68 s: 13 counted (10, 11, 12 and the ten of 60.5 s), the oldest (10 s) leaves
# at 70 s; read at 69.9 s.
_FIGURES_AT_68 = RateLimitInfo(limit=20, remaining=7, reset_after=0.1)


def test_starts_made_after_the_upstreams_figures_do_not_shrink_the_window() -> None:
    """A success's reset read after three later starts keeps the 60 s window (was 9.5 s)."""
    core, answered = _core_with_a_fleets_starts(60.0)
    core.succeeded(69.9, answered, 60.5, _FIGURES_AT_68)
    stats = core.stats(69.9, waiting=0, latencies=[])
    assert stats.window == 60.0
    assert stats.window_learned  # one reading of the answer is the window we keep


def test_an_assumed_window_moves_to_the_nearest_reading_of_a_success() -> None:
    """Assumed 120 s, the same answer (it fits 9.5, 58, 59 and 60 s): it becomes 60 s."""
    core, answered = _core_with_a_fleets_starts(120.0, configured=False)
    core.succeeded(69.9, answered, 60.5, _FIGURES_AT_68)
    assert core.stats(69.9, waiting=0, latencies=[]).window == 60.0


def test_a_success_that_fits_several_starts_leaves_a_configured_window() -> None:
    """Configured 120 s, the same answer names no one window: the setting stands."""
    core, answered = _core_with_a_fleets_starts(120.0)
    core.succeeded(69.9, answered, 60.5, _FIGURES_AT_68)
    assert core.stats(69.9, waiting=0, latencies=[]).window == 120.0


@pytest.mark.parametrize(("configured", "window"), [(True, 60.0), (False, 61.5)])
def test_a_lone_earlier_start_does_not_stretch_the_window(configured: bool, window: float) -> None:
    """A warm-up start, then a burst whose first start reached the upstream 1.5 s after we
    counted it: the answer fits 61.5 s (the burst) and 146.5 s (the warm-up). An assumed
    window moves to the nearer, 61.5 s (the longer made every slot wait 85 s more); a
    configured one stays (a longer reading is the arrival's delay)."""
    config = GateConfig(rate=20, window=60.0, max_in_flight=32, window_configured=configured)
    core = GateCore(config, now=0.0)
    core.start(0.0)
    burst = [core.start(85.0 + index / 10) for index in range(20)]
    # Written at 100 s: the burst counted, its first (arrived at 86.5 s) leaves at 146.5 s.
    core.succeeded(100.0, burst[-1], 86.9, RateLimitInfo(limit=20, remaining=0, reset_after=46.5))
    assert core.stats(100.0, waiting=0, latencies=[]).window == pytest.approx(window)


def _burst_core(window: float, *, rate: int = 20) -> tuple[GateCore, list[int]]:
    """A configured gate whose first window opened with a burst of ``rate`` at 0 s."""
    core = GateCore(GateConfig(rate=rate, window=window, max_in_flight=32), now=0.0)
    return core, [core.start(0.0) for _ in range(rate)]


def test_a_success_read_late_does_not_stretch_a_configured_window() -> None:
    """6 s configured (bench --fleet at 0.1): figures written at 0.9 s and read at 1.5 s
    name 6.6 s alone; the window stays 6 s, confirmed (it moved to 6.6 s, costing 10%)."""
    core, burst = _burst_core(6.0)
    core.succeeded(1.5, burst[0], 0.0, RateLimitInfo(limit=20, remaining=0, reset_after=5.1))
    stats = core.stats(1.5, waiting=0, latencies=[])
    assert stats.window == 6.0
    assert stats.window_learned


def test_one_success_alone_does_not_shorten_a_configured_window() -> None:
    """A start at 0 s, one at 2.8 s that another worker then abandons (never sent), 18 at
    2.85 s and one at 3.2 s: its answer, read before the abandon is applied, names 3.2 s
    alone (the 2.8 s start in the 0 s one's place); the next fits 6 s, and the window
    never left it (it fell to 3.2 s and the next burst was refused)."""
    core = GateCore(GateConfig(rate=20, window=6.0, max_in_flight=32), now=0.0)
    core.start(0.0)
    core.start(2.8)
    burst = [core.start(2.85) for _ in range(18)]
    answered = core.start(3.2)
    # Written at 3.5 s: 0 s, the 18 and 3.2 s counted; 0 s leaves at 6 s.
    core.succeeded(3.6, answered, 3.2, RateLimitInfo(limit=20, remaining=0, reset_after=2.4))
    assert core.stats(3.6, waiting=0, latencies=[]).window == 6.0
    core.abandoned(2.8)
    core.succeeded(3.7, burst[0], 2.85, RateLimitInfo(limit=20, remaining=0, reset_after=2.3))
    stats = core.stats(3.7, waiting=0, latencies=[])
    assert stats.window == 6.0
    assert stats.window_learned


def test_two_successes_naming_a_shorter_window_shorten_a_configured_one() -> None:
    """Configured 12 s, the upstream's is 6 s: the first answer alone moves nothing, the
    second names 6 s too and the window becomes the longer of the two."""
    core, burst = _burst_core(12.0)
    core.succeeded(1.0, burst[0], 0.0, RateLimitInfo(limit=20, remaining=0, reset_after=5.0))
    assert core.stats(1.0, waiting=0, latencies=[]).window == 12.0
    core.succeeded(2.0, burst[1], 0.0, RateLimitInfo(limit=20, remaining=0, reset_after=4.1))
    assert core.stats(2.0, waiting=0, latencies=[]).window == pytest.approx(6.1)


def test_a_new_window_keeps_the_margin_edge_429s_widened() -> None:
    """A skew 429 widens a 12 s window's margin to 0.32 s; when answers then name a 6 s
    window, the margin stays at that window's widest, 0.3 s (it fell back to 0.1 s and the
    next window's edge drew the same 429s)."""
    core = GateCore(GateConfig(rate=5, window=12.0, max_in_flight=32), now=0.0)
    for _ in range(5):
        core.start(0.0)
    at = core.next_start(12.0)
    later = [core.start(at) for _ in range(5)]
    core.failed(at + 0.03, later[0], at, RateLimited("429", retry_after=0.1))
    assert core.stats(at + 0.03, waiting=0, latencies=[]).margin == pytest.approx(0.32)
    for number, seq in enumerate(later[1:3]):
        read = at + 0.9 + number / 10
        info = RateLimitInfo(limit=5, remaining=0, reset_after=at + 6.0 - read)
        core.succeeded(read, seq, at, info)
    stats = core.stats(at + 1.1, waiting=0, latencies=[])
    assert stats.window == pytest.approx(6.0)
    assert stats.margin == pytest.approx(0.3)


@pytest.mark.parametrize("configured", [True, False])
async def test_a_429_whose_figures_leave_room_teaches_no_window(configured: bool) -> None:
    """20 per 6 s: two full windows of starts, a pause, 4 more starts, then a 429 saying 16
    remaining, the oldest counted start leaving in 2 s (a refusal on another limit, or a
    relay's random one). Its count is not a full window of ours, so its reset names no
    request window: ours stays 6 s. Before, it was read as a window holding 20 of our starts
    and matched a start two windows back (33-57 s in a newcomer's fleet, whose batches then
    took twice as long)."""
    clock = FakeClock()
    gate = Gate(GateConfig(rate=20, window=6.0, window_configured=configured), clock=clock)
    for _ in range(40):
        (await gate.acquire()).success()
    await clock.sleep(7.0)
    recent = []
    for _ in range(4):
        recent.append(await gate.acquire())
        await clock.sleep(1.0)
    for permit in recent[:3]:
        permit.success()
    recent[3].failure(RateLimited("429", limit=20, remaining=16, reset_after=2.0))
    assert gate.stats().window == 6.0
