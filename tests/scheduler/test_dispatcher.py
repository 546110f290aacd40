"""The dispatch loop: fairness, caps, retries without slots, budgets, cancel, faults."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from scheduler_helpers import RecordingListener, make_job, make_jobs, make_policy, running

from slidebatch.errors import PermanentProviderError, RateLimited, TransientProviderError
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.scheduler.dispatcher import Job, StartRefused
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.testing.clock import FakeClock
from slidebatch.testing.scripted_provider import Fail, Hang, ScriptedProvider


async def test_small_batch_behind_a_big_one_finishes_first(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """A 3-slide batch arriving after a 50-slide batch takes turns and ends long before it."""
    provider = ScriptedProvider(clock, default_latency=20.0, upstream_limit=20)
    gate = Gate(GateConfig(rate=20, window=60.0), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("big", make_jobs("big", 50), cap=None)
        await clock.sleep(1.0)
        dispatcher.add_jobs("small", make_jobs("small", 3), cap=None)
        await dispatcher.drain()
    assert len(listener.of("ok")) == 53
    assert listener.finished_at("small") < 90.0
    assert listener.finished_at("big") > listener.finished_at("small") + 50.0
    assert provider.count("rate_limited") == 0


async def test_per_batch_cap_is_honoured(clock: FakeClock, listener: RecordingListener) -> None:
    """max_workers=2: never more than two attempts of the batch at once."""
    provider = ScriptedProvider(clock, default_latency=1.0)
    gate = Gate(GateConfig(max_in_flight=32), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 10), cap=2)
        await dispatcher.drain()
    assert provider.max_in_flight == 2
    assert listener.finished_at("b") == 5.0


async def test_no_cap_runs_up_to_the_gate(clock: FakeClock, listener: RecordingListener) -> None:
    """Auto (cap None): the gate's in-flight cap is the only bound."""
    provider = ScriptedProvider(clock, default_latency=1.0)
    gate = Gate(GateConfig(max_in_flight=4), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 12), cap=None)
        await dispatcher.drain()
    assert provider.max_in_flight == 4
    assert listener.finished_at("b") == 3.0


async def test_backing_off_job_holds_no_slot(clock: FakeClock, listener: RecordingListener) -> None:
    """With cap 1, slide 2 runs while slide 1 waits out its 10 s backoff."""
    script = {"b/1": [Fail(TransientProviderError("502", retry_after=10.0), latency=1.0)]}
    provider = ScriptedProvider(clock, default_latency=1.0, script=script)
    gate = Gate(clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 2), cap=1)
        await dispatcher.drain()
    starts = [(c.slide_id, c.started) for c in provider.calls]
    assert starts[:2] == [("b/1", 0.0), ("b/2", 1.0)]
    assert starts[2][0] == "b/1"
    assert starts[2][1] >= 11.0
    (retry,) = listener.of("retry")
    assert retry.delay is not None
    assert retry.delay >= 10.0


async def test_retries_go_first_within_a_batch(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """A retry whose time has come starts before the batch's fresh slides."""
    script = {"b/1": [Fail(TransientProviderError("502", retry_after=0.5), latency=1.0)]}
    provider = ScriptedProvider(clock, default_latency=1.0, script=script)
    gate = Gate(clock=clock)
    policy = make_policy(base=0.001)
    async with running(provider, gate, listener, clock=clock, policy=policy) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 3), cap=1)
        await dispatcher.drain()
    assert [c.slide_id for c in provider.calls] == ["b/1", "b/2", "b/1", "b/3"]


async def test_permanent_error_is_not_retried(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """A content-policy refusal fails the slide at once; the other slides are untouched."""
    script = {"b/2": [Fail(PermanentProviderError("blocked by content policy"))]}
    provider = ScriptedProvider(clock, script=script)
    gate = Gate(clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 3), cap=None)
        await dispatcher.drain()
    assert [c.slide_id for c in provider.calls].count("b/2") == 1
    (failed,) = listener.of("failed")
    assert (failed.slide_key, failed.attempt) == (2, 1)
    assert listener.of("retry") == []
    assert len(listener.of("ok")) == 2


async def test_paid_attempts_are_capped(clock: FakeClock, listener: RecordingListener) -> None:
    """Three paid attempts at most, then the slide fails with the last error."""
    script = {"b/1": [Fail(TransientProviderError("502")) for _ in range(5)]}
    provider = ScriptedProvider(clock, script=script)
    gate = Gate(clock=clock)
    policy = make_policy(max_attempts=3)
    async with running(provider, gate, listener, clock=clock, policy=policy) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 1), cap=None)
        await dispatcher.drain()
    assert len(provider.calls) == 3
    assert [e.attempt for e in listener.of("started")] == [1, 2, 3]
    (failed,) = listener.of("failed")
    assert failed.attempt == 3


async def test_rate_limit_requeues_are_unpaid_and_bounded(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """429s do not spend paid attempts and stop after max_requeues requeues."""
    script = {"b/1": [Fail(RateLimited("429", retry_after=1.0)) for _ in range(5)]}
    provider = ScriptedProvider(clock, script=script)
    gate = Gate(clock=clock)
    policy = make_policy(max_attempts=1, max_requeues=2)
    async with running(provider, gate, listener, clock=clock, policy=policy) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 1), cap=None)
        await dispatcher.drain()
    assert len(provider.calls) == 3  # the first try and two requeues, although max_attempts=1
    assert [e.attempt for e in listener.of("started")] == [1, 1, 1]
    assert len(listener.of("failed")) == 1


async def test_429_then_success_keeps_the_attempt_count(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """A slide that met two 429s succeeds as its first paid attempt."""
    script = {"b/1": [Fail(RateLimited("429", retry_after=1.0)) for _ in range(2)]}
    provider = ScriptedProvider(clock, script=script)
    gate = Gate(clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 1), cap=None)
        await dispatcher.drain()
    (ok,) = listener.of("ok")
    assert ok.attempt == 1


async def test_resumed_job_keeps_its_paid_attempts(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """A job handed in with attempts=3 of 4 gets one more try only."""
    script = {"b/1": [Fail(TransientProviderError("502")) for _ in range(3)]}
    provider = ScriptedProvider(clock, script=script)
    (job,) = make_jobs("b", 1)
    resumed = Job(job.batch_id, job.slide_key, job.request, attempts=3)
    async with running(provider, Gate(clock=clock), listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", [resumed], cap=None)
        await dispatcher.drain()
    assert len(provider.calls) == 1
    assert listener.of("failed")[0].attempt == 4


async def test_cancel_batch_drops_queued_and_lets_running_finish(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """Cancel returns the waiting jobs; the two running ones finish and are reported."""
    provider = ScriptedProvider(clock, default_latency=5.0)
    gate = Gate(GateConfig(rate=2, window=60.0), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 10), cap=None)
        await clock.sleep(1.0)
        dropped = dispatcher.cancel_batch("b")
        assert [job.slide_key for job in dropped] == list(range(3, 11))
        assert dispatcher.outstanding("b") == 2
        await dispatcher.drain()
        assert dispatcher.outstanding("b") == 0
        assert dispatcher.stats().batches == ()
    assert [e.slide_key for e in listener.of("ok")] == [1, 2]
    assert len(provider.calls) == 2


async def test_running_job_of_cancelled_batch_is_not_retried(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """A transient failure after cancel ends the slide instead of requeueing it."""
    script = {"b/1": [Fail(TransientProviderError("502"), latency=5.0)]}
    provider = ScriptedProvider(clock, script=script)
    async with running(provider, Gate(clock=clock), listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 1), cap=None)
        await clock.sleep(1.0)
        dispatcher.cancel_batch("b")
        await dispatcher.drain()
    assert len(provider.calls) == 1
    assert len(listener.of("failed")) == 1


async def test_hung_attempt_times_out_and_is_retried(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """No answer within attempt_timeout is an overload error; the retry succeeds."""
    provider = ScriptedProvider(clock, script={"b/1": [Hang()]})
    gate = Gate(clock=clock)
    async with running(provider, gate, listener, clock=clock, attempt_timeout=5.0) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 1), cap=None)
        await dispatcher.drain()
    (retry,) = listener.of("retry")
    assert retry.at == 5.0
    assert isinstance(retry.error, TransientProviderError)
    assert retry.error.overload
    assert "no answer within 5 s" in str(retry.error)
    assert len(listener.of("ok")) == 1
    assert gate.stats().overload_total == 1
    assert provider.in_flight == 0


class ExplodingProvider:
    """Raises a foreign exception on the first call of each slide, then succeeds."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    @property
    def name(self) -> str:
        return "exploding"

    @property
    def credential_id(self) -> str:
        return "exploding"

    async def generate(self, request: ImageRequest) -> ImageResult:
        if request.slide.id not in self.seen:
            self.seen.add(request.slide.id)
            raise RuntimeError("bug in an adapter")
        return ImageResult(data=b"x", mime_type="image/png", width=1, height=1, latency_s=0.0)


async def test_unexpected_provider_exception_becomes_transient(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """A foreign exception is a transient error: retried, and the loop keeps going."""
    async with running(ExplodingProvider(), Gate(clock=clock), listener, clock=clock) as d:
        d.add_jobs("b", make_jobs("b", 3), cap=None)
        await d.drain()
    assert len(listener.of("retry")) == 3
    assert all(isinstance(e.error, TransientProviderError) for e in listener.of("retry"))
    assert len(listener.of("ok")) == 3


class BrokenListener(RecordingListener):
    """A listener whose on_started always raises."""

    async def on_started(self, job: Job, attempt: int) -> None:
        raise RuntimeError("database is down")


async def test_listener_exceptions_do_not_stop_the_loop(clock: FakeClock) -> None:
    """Every slide still completes when the listener fails on each start."""
    listener = BrokenListener(clock)
    provider = ScriptedProvider(clock)
    async with running(provider, Gate(clock=clock), listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 4), cap=None)
        await dispatcher.drain()
    assert len(listener.of("ok")) == 4


class RefusingListener(RecordingListener):
    """A listener that refuses the start of slide 2 (its batch ended without it)."""

    async def on_started(self, job: Job, attempt: int) -> None:
        if job.slide_key == 2:
            raise StartRefused("the database is gone")
        await super().on_started(job, attempt)


async def test_a_refused_start_sends_nothing_and_the_loop_goes_on(clock: FakeClock) -> None:
    """StartRefused from on_started: that request is not sent, nothing more is reported of
    it, its slot frees, and the other slides run."""
    listener = RefusingListener(clock)
    provider = ScriptedProvider(clock)
    async with running(provider, Gate(clock=clock), listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 3), cap=1)
        await dispatcher.drain()
        left = dispatcher.outstanding("b")
    assert sorted(call.slide_id for call in provider.calls) == ["b/1", "b/3"]
    assert len(listener.of("ok")) == 2
    assert left == 0


async def test_finished_batch_leaves_memory(clock: FakeClock, listener: RecordingListener) -> None:
    """Once nothing of a batch is outstanding it is gone from the dispatcher's state."""
    provider = ScriptedProvider(clock)
    async with running(provider, Gate(clock=clock), listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("a", make_jobs("a", 3), cap=2)
        dispatcher.add_jobs("b", make_jobs("b", 3), cap=None)
        await dispatcher.drain()
        stats = dispatcher.stats()
    assert stats.batches == ()
    assert (stats.queued_total, stats.running_total) == (0, 0)
    assert dispatcher.outstanding("a") == 0


async def test_outstanding_excludes_the_job_in_its_final_hook(clock: FakeClock) -> None:
    """When on_succeeded of the last slide runs, outstanding() is already zero."""
    seen: list[int] = []

    class Watching(RecordingListener):
        async def on_succeeded(self, job: Job, result: ImageResult, attempt: int) -> None:
            seen.append(dispatcher.outstanding(job.batch_id))

    listener = Watching(clock)
    provider = ScriptedProvider(clock, default_latency=lambda r: float(r.slide.page_num))
    async with running(provider, Gate(clock=clock), listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 3), cap=None)
        await dispatcher.drain()
    assert seen == [2, 1, 0]


async def test_loop_cancellation_cancels_attempts(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """Shutting the loop down cancels attempts in flight and frees their gate slots."""
    provider = ScriptedProvider(clock, default_latency=100.0)
    gate = Gate(clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 3), cap=None)
        await clock.sleep(1.0)
    await asyncio.sleep(0)
    assert provider.in_flight == 0
    assert gate.stats().in_flight == 0
    assert listener.of("ok") == []


@dataclass
class SlowFirstWrite(RecordingListener):
    """The first 'generating' write takes 0.5 s (queued behind a burst's writes), the rest none."""

    writes: int = 0

    async def on_started(self, job: Job, attempt: int) -> None:
        self.writes += 1
        if self.writes == 1:
            await self.clock.sleep(0.5)
        await super().on_started(job, attempt)


async def test_a_start_is_counted_when_its_request_leaves(clock: FakeClock) -> None:
    """A slow 'generating' write delays the next window's slot too: no 429 at the edge."""
    listener = SlowFirstWrite(clock)
    provider = ScriptedProvider(
        clock, default_latency=1.0, upstream_limit=1, send_rate_headers=False, count_refused=True
    )
    gate = Gate(GateConfig(rate=1, window=60.0, margin=0.0), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 2), cap=None)
        await dispatcher.drain()
    assert [round(call.started, 3) for call in provider.calls] == [0.5, 60.5]
    assert provider.count("rate_limited") == 0


class SlowSecondWrite(RecordingListener):
    """The second attempt's 'generating' write takes 0.5 s."""

    writes = 0

    async def on_started(self, job: Job, attempt: int) -> None:
        self.writes += 1
        if self.writes == 2:
            await self.clock.sleep(0.5)
        await super().on_started(job, attempt)


async def test_a_429_during_the_generating_write_holds_the_request(clock: FakeClock) -> None:
    """Slide 1 is refused 0.2 s in (wait 30 s) while slide 2's 'generating' write runs: slide
    2's request does not leave into the pause; its start is decided again, at 30.2 s."""
    listener = SlowSecondWrite(clock)
    script = {"b/1": [Fail(RateLimited("429", retry_after=30.0), latency=0.2)]}
    provider = ScriptedProvider(clock, default_latency=1.0, script=script)
    gate = Gate(GateConfig(rate=10, window=60.0), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 2), cap=None)
        await dispatcher.drain()
    first, second = provider.calls[:2]
    assert (first.slide_id, first.started) == ("b/1", 0.0)
    assert (second.slide_id, round(second.started, 3)) == ("b/2", 30.2)
    assert provider.count("rate_limited") == 1
    assert len(listener.of("ok")) == 2


async def test_hold_lets_the_attempts_in_flight_land_and_starts_no_other(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """hold() (a CLI's first Ctrl-C): the 2 attempts in flight end and are reported (paid
    for, so recorded); settle() returns once they are; the 8 queued never start."""
    provider = ScriptedProvider(clock, default_latency=5.0)
    gate = Gate(GateConfig(max_in_flight=32), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 10), cap=2)
        await clock.sleep(1.0)
        dispatcher.hold()
        assert dispatcher.in_flight() == 2
        await dispatcher.settle()
        assert (dispatcher.in_flight(), clock.now()) == (0, 5.0)
        assert len(listener.of("ok")) == 2
        await clock.sleep(60.0)
        assert dispatcher.outstanding("b") == 8
    assert len(listener.of("started")) == 2
    assert provider.count("cancelled") == 0


async def test_hold_batch_starts_nothing_more_of_it_until_its_cancel(
    clock: FakeClock, listener: RecordingListener
) -> None:
    """hold_batch (max_cost reached): the held batch's 2 running finish and none of its queued
    or later added jobs start, another batch goes on; the cancel then drops them all, and a
    retry after it runs."""
    provider = ScriptedProvider(clock, default_latency=5.0)
    gate = Gate(GateConfig(max_in_flight=32), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 6), cap=2)
        await clock.sleep(1.0)
        dispatcher.hold_batch("b")
        dispatcher.add_jobs("b", [make_job("b", 7)], cap=2)  # e.g. slides released by a cover
        dispatcher.add_jobs("c", make_jobs("c", 2), cap=2)
        await clock.sleep(60.0)
        assert dispatcher.outstanding("b") == 5
        assert len(dispatcher.cancel_batch("b")) == 5
        dispatcher.add_jobs("b", [make_job("b", 3)], cap=2)  # retried after the cancel
        await dispatcher.drain()
    assert [e.slide_key for e in listener.of("started", "b")] == [1, 2, 3]
    assert [e.slide_key for e in listener.of("ok", "c")] == [1, 2]


class WritingListener(RecordingListener):
    """Stores 'generating' in 0.25 s (on the fake clock), as a database write takes time."""

    async def on_started(self, job: Job, attempt: int) -> None:
        await self.clock.sleep(0.25)
        await super().on_started(job, attempt)


async def test_a_slot_that_frees_sends_a_job_started_ahead_at_once(clock: FakeClock) -> None:
    """With every slot busy, the next jobs' 'generating' is stored ahead: when a slot frees
    their requests leave at once, not one write later, and each is stored before it leaves."""
    listener = WritingListener(clock)
    provider = ScriptedProvider(clock, default_latency=2.0)
    gate = Gate(GateConfig(max_in_flight=2), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 4), cap=None)
        await dispatcher.drain()
    assert [call.started for call in provider.calls] == [0.25, 0.25, 2.25, 2.25]
    stored = {event.slide_key: event.at for event in listener.of("started")}
    assert stored[3] <= 0.5
    assert stored[4] <= 0.5
    assert provider.max_in_flight == 2
    assert not listener.of("returned")  # a slot about to free is no reason to give them back


async def test_a_window_starts_nothing_ahead(clock: FakeClock) -> None:
    """While the rate window (not the in-flight cap) holds the next start, no slide is stored
    'generating' long before its request: each start is stored right before it leaves."""
    listener = WritingListener(clock)
    provider = ScriptedProvider(clock, default_latency=1.0, upstream_limit=2)
    gate = Gate(GateConfig(rate=2, window=10.0, max_in_flight=2), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("b", make_jobs("b", 6), cap=None)
        await dispatcher.drain()
    stored = {event.slide_key: event.at for event in listener.of("started")}
    sent = {int(call.slide_id.split("/")[1]): call.started for call in provider.calls}
    assert provider.count("rate_limited") == 0
    assert all(sent[key] - stored[key] <= 0.25 for key in sent)


async def test_a_start_ahead_of_a_cancelled_batch_is_dropped_unsent(clock: FakeClock) -> None:
    """A batch cancelled while its next job waited, started ahead, for a slot: nothing is
    sent for it, its start is given back, and on_dropped is its final report."""
    listener = WritingListener(clock)
    provider = ScriptedProvider(clock, default_latency=2.0)
    gate = Gate(GateConfig(max_in_flight=1), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("a", make_jobs("a", 3), cap=None)
        await clock.sleep(1.0)
        dropped = dispatcher.cancel_batch("a")
        await dispatcher.drain()
        stats = gate.stats()
    assert [call.slide_id for call in provider.calls] == ["a/1"]
    assert [job.slide_key for job in dropped] == [3]
    assert [(e.slide_key, e.attempt) for e in listener.of("dropped")] == [(2, 1)]
    assert (stats.requests_total, stats.in_flight) == (1, 0)
    assert dispatcher.outstanding("a") == 0


async def test_a_start_ahead_of_a_held_batch_is_dropped_unsent(clock: FakeClock) -> None:
    """hold_batch (max_cost) stops a job started ahead as it stops a queued one."""
    listener = WritingListener(clock)
    provider = ScriptedProvider(clock, default_latency=2.0)
    gate = Gate(GateConfig(max_in_flight=1), clock=clock)
    async with running(provider, gate, listener, clock=clock) as dispatcher:
        dispatcher.add_jobs("a", make_jobs("a", 3), cap=None)
        await clock.sleep(1.0)
        dispatcher.hold_batch("a")
        await clock.sleep(5.0)
        dropped = dispatcher.cancel_batch("a")
        await dispatcher.drain()
    assert [call.slide_id for call in provider.calls] == ["a/1"]
    assert [e.slide_key for e in listener.of("dropped")] == [2]
    assert [job.slide_key for job in dropped] == [3]
