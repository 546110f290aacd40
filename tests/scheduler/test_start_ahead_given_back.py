"""Jobs started ahead whose send is not imminent go back to pending, unpaid, and run later."""

from __future__ import annotations

import random
from collections import Counter

from scheduler_helpers import RecordingListener, make_jobs, running

from slidebatch.errors import ProviderError, QuotaExhausted, RateLimited
from slidebatch.scheduler.dispatcher import Job
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.scripted_provider import Fail, ScriptedProvider


class WritingListener(RecordingListener):
    """Stores 'generating' in 0.25 s (on the fake clock), as a database write takes time."""

    async def on_started(self, job: Job, attempt: int) -> None:
        await self.clock.sleep(0.25)
        await super().on_started(job, attempt)


def _sent(provider: ScriptedProvider) -> Counter[str]:
    """How many requests each slide id sent."""
    return Counter(call.slide_id for call in provider.calls)


async def test_hold_gives_back_the_jobs_started_ahead_and_a_restart_sends_them_once(
    clock: FakeClock,
) -> None:
    """hold() while slides 3 and 4 wait 'generating' for a slot: both are given back
    (pending, attempt 1 not counted), nothing is sent for them, the gate never counted them;
    a restart then sends each slide once, 3 and 4 starting again as attempt 1."""
    listener = WritingListener(clock)
    provider = ScriptedProvider(clock, default_latency=5.0)
    gate = Gate(GateConfig(max_in_flight=2), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 5), cap=None)
        await clock.sleep(1.0)
        assert [e.slide_key for e in listener.of("started")] == [1, 2, 3, 4]
        dispatcher.hold()
        await dispatcher.settle()
        assert dispatcher.outstanding("b") == 3  # 3, 4 and 5 queued again
        await clock.sleep(60.0)
        stats = gate.stats()
    assert [(e.slide_key, e.attempt, e.at) for e in listener.of("returned")] == [
        (3, 1, 1.0),
        (4, 1, 1.0),
    ]
    assert sorted(_sent(provider)) == ["b/1", "b/2"]
    assert (stats.requests_total, stats.in_flight) == (2, 0)
    assert not listener.of("dropped")
    # The restart: slides 3..5 are pending with no attempt paid.
    later = WritingListener(clock)
    async with running(
        provider, Gate(GateConfig(max_in_flight=2), clock=clock), later, clock=clock
    ) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 5)[2:], cap=None)
        await dispatcher.drain()
    assert _sent(provider) == {f"b/{key}": 1 for key in range(1, 6)}
    assert [(e.slide_key, e.attempt) for e in later.of("started")] == [(3, 1), (4, 1), (5, 1)]


async def _through_a_stop(
    clock: FakeClock, error: ProviderError, policy: RetryPolicy
) -> tuple[WritingListener, ScriptedProvider]:
    """Five slides, two slots: slide 1's request fails with ``error`` at 1.25 s while slides 3
    and 4 wait, started ahead, for a slot; the dispatcher runs until everything is done."""
    listener = WritingListener(clock)
    provider = ScriptedProvider(
        clock, default_latency=2.0, script={"b/1": [Fail(error, latency=1.0)]}
    )
    gate = Gate(GateConfig(max_in_flight=2), clock=clock)
    async with running(provider, gate, listener, clock=clock, policy=policy) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 5), cap=None)
        await dispatcher.drain()
    return listener, provider


async def test_a_429_pause_gives_back_the_jobs_started_ahead(clock: FakeClock) -> None:
    """A 429 asking for 30 s while slides 3 and 4 wait 'generating': they go back to pending
    at once (not sent, not counted), start again after the pause in their order, ahead of
    slide 5, and every slide is sent once (slide 1 twice: its 429 and its retry)."""
    policy = RetryPolicy(4, 30, 2.0, 60.0, random.Random(7))
    listener, provider = await _through_a_stop(clock, RateLimited("429", retry_after=30.0), policy)
    assert [(e.slide_key, e.attempt, e.at) for e in listener.of("returned")] == [
        (3, 1, 1.25),
        (4, 1, 1.25),
    ]
    assert _sent(provider) == {"b/1": 2, "b/2": 1, "b/3": 1, "b/4": 1, "b/5": 1}
    assert all(not 1.25 < call.started < 31.25 for call in provider.calls)
    after = [call.slide_id for call in provider.calls if call.started >= 31.25]
    assert after.index("b/3") < after.index("b/4") < after.index("b/5")
    restarts = [(e.slide_key, e.attempt) for e in listener.of("started") if e.at > 1.25]
    assert {(3, 1), (4, 1)} <= set(restarts)
    assert len(listener.of("ok")) == 5
    assert not listener.of("dropped")


async def test_a_park_gives_back_the_jobs_started_ahead(clock: FakeClock) -> None:
    """A spent quota parks the credential for 900 s while slides 3 and 4 wait 'generating':
    they go back to pending, nothing is sent during the park, and after it each slide is
    sent once more at most (slide 1 retried), none paid twice."""
    policy = RetryPolicy(1, 0, 2.0, 60.0, random.Random(7), quota_recheck=900.0)
    empty = QuotaExhausted("no credits", reset_at=None, no_credits=True)
    listener, provider = await _through_a_stop(clock, empty, policy)
    assert [(e.slide_key, e.attempt) for e in listener.of("returned")] == [(3, 1), (4, 1)]
    assert _sent(provider) == {"b/1": 2, "b/2": 1, "b/3": 1, "b/4": 1, "b/5": 1}
    assert all(not 1.25 < call.started < 901.25 for call in provider.calls)
    assert len(listener.of("ok")) == 5
    assert not listener.of("failed")


async def test_a_cancelled_batch_still_drops_its_jobs_started_ahead(clock: FakeClock) -> None:
    """Cancelled while slides 3 and 4 wait 'generating', then a 429 pause: they are dropped
    (final, unsent) as before, not given back to a batch that will not run them."""
    listener = WritingListener(clock)
    script = {"b/1": [Fail(RateLimited("429", retry_after=30.0), latency=1.0)]}
    provider = ScriptedProvider(clock, default_latency=2.0, script=script)
    gate = Gate(GateConfig(max_in_flight=2), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 5), cap=None)
        await clock.sleep(1.0)
        dropped = dispatcher.cancel_batch("b")
        await dispatcher.drain()
    assert [job.slide_key for job in dropped] == [5]
    assert [(e.slide_key, e.attempt) for e in listener.of("dropped")] == [(3, 1), (4, 1)]
    assert not listener.of("returned")
    assert sorted(_sent(provider)) == ["b/1", "b/2"]
    assert dispatcher.outstanding("b") == 0


async def test_a_job_held_while_being_started_ahead_is_given_back(clock: FakeClock) -> None:
    """hold() while slides 3 and 4 are still being stored 'generating': once stored they are
    given back, and settle() waits for that."""
    listener = WritingListener(clock)
    provider = ScriptedProvider(clock, default_latency=5.0)
    gate = Gate(GateConfig(max_in_flight=2), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 5), cap=None)
        await clock.sleep(0.1)  # 1 and 2 and, ahead, 3 and 4 being written until 0.25
        dispatcher.hold()
        await dispatcher.settle()
    assert [(e.slide_key, e.at) for e in listener.of("returned")] == [(3, 0.25), (4, 0.25)]
    assert sorted(_sent(provider)) == ["b/1", "b/2"]


class SlowSecondWrite(RecordingListener):
    """Stores slide 2's 'generating' in 2 s (on the fake clock), the others at once."""

    async def on_started(self, job: Job, attempt: int) -> None:
        if job.slide_key == 2:
            await self.clock.sleep(2.0)
        await super().on_started(job, attempt)


async def test_a_cancel_while_a_confirm_waits_out_a_pause_sends_nothing(
    clock: FakeClock,
) -> None:
    """Slide 2's permit was handed out at 0 and its 'generating' write takes until 2 s;
    slide 1's 429 at 1 s pauses the gate for 30 s, so its confirm waits out the pause; the
    batch is cancelled at 10 s. When the pause ends nothing is sent for slide 2: the start
    is given back and the slide dropped (before, it was sent and paid for)."""
    listener = SlowSecondWrite(clock)
    script = {"b/1": [Fail(RateLimited("429", retry_after=30.0), latency=1.0)]}
    provider = ScriptedProvider(clock, default_latency=2.0, script=script)
    gate = Gate(GateConfig(max_in_flight=2), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 2), cap=None)
        await clock.sleep(10.0)
        dispatcher.cancel_batch("b")
        await dispatcher.drain()
        stats = gate.stats()
    assert [call.slide_id for call in provider.calls] == ["b/1"]
    assert [(e.slide_key, e.attempt) for e in listener.of("dropped")] == [(2, 1)]
    assert stats.in_flight == 0
    assert dispatcher.outstanding("b") == 0


async def test_a_permit_whose_confirm_meets_a_park_is_given_back(clock: FakeClock) -> None:
    """Slide 2's permit was handed out at 0 and its 'generating' write takes until 2 s;
    slide 1's spent quota at 1 s parks the credential for 900 s. Slide 2 goes back to pending
    at 2 s (not held 'generating' in its confirm until the park ends: a CLI run waiting for
    the requests in flight waited on it), nothing is sent during the park, and after it each
    slide is sent once more at most, none paid twice."""
    listener = SlowSecondWrite(clock)
    empty = QuotaExhausted("no credits", reset_at=None, no_credits=True)
    provider = ScriptedProvider(
        clock, default_latency=2.0, script={"b/1": [Fail(empty, latency=1.0)]}
    )
    policy = RetryPolicy(1, 0, 2.0, 60.0, random.Random(7), quota_recheck=900.0)
    gate = Gate(GateConfig(max_in_flight=2), clock=clock)
    async with running(provider, gate, listener, clock=clock, policy=policy) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 2), cap=None)
        await clock.sleep(10.0)
        assert [(e.slide_key, e.attempt, e.at) for e in listener.of("returned")] == [(2, 1, 2.0)]
        assert dispatcher.in_flight() == 0  # nothing waits 'generating' on the park
        await dispatcher.drain()
    assert _sent(provider) == {"b/1": 2, "b/2": 1}
    assert all(not 1.0 < call.started < 901.0 for call in provider.calls)
    assert len(listener.of("ok")) == 2
    assert not listener.of("dropped")
    assert not listener.of("failed")
