"""Whole runs on the fake clock, measured against the physical makespan bound."""

from __future__ import annotations

import random
from dataclasses import dataclass

from scheduler_helpers import RecordingListener, make_jobs, make_policy, running

from slidebatch.core.bound import makespan_bound
from slidebatch.errors import TransientProviderError
from slidebatch.providers.base import ImageRequest
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.scripted_provider import Fail, Hang, ScriptedProvider, Step, Succeed


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


def seeded_latencies(count: int, seed: int, low: float, high: float) -> dict[int, float]:
    rng = random.Random(seed)
    return {key: rng.uniform(low, high) for key in range(1, count + 1)}


async def simulate(
    latencies: dict[int, float], *, rate: int | None, upstream_limit: int = 20
) -> Run:
    """One 50-ish slide batch through a gate against an upstream of 20 per 60 s."""
    clock = FakeClock()
    listener = RecordingListener(clock)

    def latency(request: ImageRequest) -> float:
        return latencies[request.slide.page_num]

    provider = ScriptedProvider(clock, default_latency=latency, upstream_limit=upstream_limit)
    gate = Gate(GateConfig(rate=rate, window=60.0), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", len(latencies)), cap=None)
        await dispatcher.drain()
    bound = makespan_bound(list(latencies.values()), rate=upstream_limit, window=60.0)
    return Run(
        makespan=listener.finished_at("b"),
        bound=bound,
        requests=len(provider.calls),
        rate_limited=provider.count("rate_limited"),
        ok=len(listener.of("ok")),
    )


async def test_fifty_slides_land_within_five_percent_of_the_bound() -> None:
    """50 slides of 18-24 s, configured 20 per 60 s: within 1.05 of T*, all done, no 429."""
    for seed in range(5):
        run = await simulate(seeded_latencies(50, seed, 18.0, 24.0), rate=20)
        assert run.ok == 50
        assert run.rate_limited == 0
        assert run.ratio <= 1.05, (seed, run)


async def test_equal_latencies_meet_the_bound_up_to_the_margin() -> None:
    """With equal latencies order does not matter: only the window margin separates us."""
    run = await simulate(dict.fromkeys(range(1, 51), 20.0), rate=20)
    assert run.bound == 140.0
    assert run.makespan == 141.0  # two windows later, each 0.5 s margin


async def test_learned_limit_draws_bounded_429s_and_recovers() -> None:
    """No rate configured: the gate learns 20/60 from the first 429s and finishes every slide."""
    run = await simulate(seeded_latencies(50, 1, 15.0, 30.0), rate=None)
    assert run.ok == 50
    assert run.rate_limited <= 32 - 20  # only the opening over-burst is refused
    assert run.ratio <= 1.10, run


async def test_eight_batches_share_fairly() -> None:
    """8 batches of 15 at once: every batch done, makespan near the bound for all 120."""
    clock = FakeClock()
    listener = RecordingListener(clock)
    provider = ScriptedProvider(clock, default_latency=20.0, upstream_limit=20)
    gate = Gate(GateConfig(rate=20, window=60.0), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        for index in range(8):
            dispatcher.add_jobs(f"b{index}", make_jobs(f"b{index}", 15), cap=None)
        await dispatcher.drain()
    finishes = [listener.finished_at(f"b{index}") for index in range(8)]
    assert len(listener.of("ok")) == 120
    assert provider.count("rate_limited") == 0
    assert max(finishes) / makespan_bound([20.0] * 120, rate=20, window=60.0) <= 1.05
    # Round-robin: batches progress together, so they end within one window of each other.
    assert max(finishes) - min(finishes) <= 61.0


async def test_fault_mix_still_finishes_every_slide() -> None:
    """10% 5xx, 5% hangs, 5% malformed answers: all 50 slides end done, each retry reported."""
    rng = random.Random(11)
    script: dict[str, list[Step]] = {}
    for key in range(1, 51):
        steps: list[Step] = []
        for _ in range(2):  # up to two faults in a row per slide
            roll = rng.random()
            if roll < 0.10:
                steps.append(Fail(TransientProviderError("502 bad gateway", status=502), 3.0))
            elif roll < 0.15:
                steps.append(Hang())
            elif roll < 0.20:
                steps.append(Fail(TransientProviderError("no image in the answer"), 15.0))
            else:
                break
        script[f"b/{key}"] = [*steps, Succeed(20.0)]
    faults = sum(len(steps) - 1 for steps in script.values())
    clock = FakeClock()
    listener = RecordingListener(clock)
    provider = ScriptedProvider(clock, script=script, upstream_limit=20)
    gate = Gate(GateConfig(rate=20, window=60.0), clock=clock)
    policy = make_policy(max_attempts=4)
    async with running(
        provider, gate, listener, clock=clock, policy=policy, attempt_timeout=60.0
    ) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 50), cap=None)
        await dispatcher.drain()
    assert faults > 5
    assert len(listener.of("ok")) == 50
    assert listener.of("failed") == []
    assert len(listener.of("retry")) == faults


async def test_too_high_configured_limit_is_corrected_by_the_upstream() -> None:
    """Configured 20 against an upstream of 15: a few 429s, then the true limit's pace."""
    latencies = seeded_latencies(50, 1, 18.0, 24.0)
    run = await simulate(latencies, rate=20, upstream_limit=15)
    assert run.ok == 50
    assert run.rate_limited <= 5
    assert run.ratio <= 1.05, run
