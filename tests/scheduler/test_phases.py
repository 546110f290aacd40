"""Each attempt's phases, as the dispatcher tells its observer: the slots' account."""

from __future__ import annotations

from scheduler_helpers import RecordingListener, make_jobs, running

from slidebatch.errors import TransientProviderError
from slidebatch.providers.base import ImageResult
from slidebatch.scheduler.dispatcher import Job
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.scheduler.phases import AttemptPhase
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.scripted_provider import Fail, ScriptedProvider


class SlowRecorder(RecordingListener):
    """Stores 'generating' in 0.25 s and an image in 0.5 s (on the fake clock)."""

    async def on_started(self, job: Job, attempt: int) -> None:
        await self.clock.sleep(0.25)
        await super().on_started(job, attempt)

    async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None:
        await self.clock.sleep(0.5)
        await super().on_succeeded(job, result, attempt)


async def test_phases_are_the_write_the_upstream_and_the_report(clock: FakeClock) -> None:
    """starting = the 'generating' write, upstream = the provider's latency, reporting = the
    success's report; one of each per successful attempt. The third slide, started ahead
    while both slots were busy, holds its slot for no write."""
    seen: list[tuple[AttemptPhase, float]] = []
    provider = ScriptedProvider(clock, default_latency=2.0)
    listener = SlowRecorder(clock)
    gate = Gate(GateConfig(max_in_flight=2), clock=clock)
    observe = lambda phase, seconds: seen.append((phase, seconds))  # noqa: E731
    async with running(provider, gate, listener, clock=clock, observe=observe) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 3), cap=None)
        await dispatcher.drain()
    by_phase = {phase: [s for p, s in seen if p is phase] for phase in AttemptPhase}
    assert by_phase[AttemptPhase.STARTING] == [0.25, 0.25, 0.0]
    assert by_phase[AttemptPhase.UPSTREAM] == [2.0] * 3
    assert by_phase[AttemptPhase.REPORTING] == [0.5] * 3


async def test_a_failed_attempt_has_no_reporting_phase(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """A failure counts its upstream time; only successes report a 'reporting' phase."""
    seen: list[tuple[AttemptPhase, float]] = []
    script = {"b/1": [Fail(TransientProviderError("502"), latency=1.5)]}
    provider = ScriptedProvider(clock, default_latency=1.0, script=script)
    observe = lambda phase, seconds: seen.append((phase, seconds))  # noqa: E731
    async with running(provider, Gate(clock=clock), listener, clock=clock, observe=observe) as d:
        d.add_jobs("b", make_jobs("b", 1), cap=None)
        await d.drain()
    upstream = [s for p, s in seen if p is AttemptPhase.UPSTREAM]
    assert upstream == [1.5, 1.0]
    assert [p for p, _ in seen].count(AttemptPhase.REPORTING) == 1


async def test_a_broken_observer_costs_no_slide(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """An observer that raises is logged; every slide still succeeds."""

    def observe(phase: AttemptPhase, seconds: float) -> None:
        raise RuntimeError("metrics gone")

    provider = ScriptedProvider(clock)
    async with running(provider, Gate(clock=clock), listener, clock=clock, observe=observe) as d:
        d.add_jobs("b", make_jobs("b", 3), cap=None)
        await d.drain()
    assert len(listener.of("ok")) == 3
