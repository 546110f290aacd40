"""The batch engine against real SQLite, the real dispatcher and gate, and scripted providers."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.batch import SlideRecord
from slidebatch.core.cost import spent
from slidebatch.core.estimate import UpstreamFigures
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine import reader as reader_module
from slidebatch.engine.answers import BatchStatus, SlideAnswer, SlideEvent
from slidebatch.engine.batch_engine import BatchEngine, EngineLimits
from slidebatch.engine.events import EventBus
from slidebatch.engine.runs import ADMIT_QUIET_S, ADMIT_WAIT_MAX_S
from slidebatch.errors import (
    Conflict,
    NotFound,
    PermanentProviderError,
    QuotaExhausted,
    RateLimited,
    TransientProviderError,
)
from slidebatch.observability.pipeline_log import PipelineLog
from slidebatch.providers.base import ImageRequest, ImageResult
from slidebatch.render import render_slide
from slidebatch.scheduler.clock import Clock, SystemClock
from slidebatch.scheduler.dispatcher import Dispatcher
from slidebatch.scheduler.gate import Gate, GateConfig
from slidebatch.scheduler.retry import RetryPolicy
from slidebatch.storage.database import Database
from slidebatch.storage.images import ImageStore
from slidebatch.testing.clock import FakeClock

PNG = render_slide(Slide("x", 1, SlideType.CONTENT, "x"), "", AspectRatio(16, 9), long_side=64)
STAND_IN = ImageResult(PNG, "image/png", 64, 36, latency_s=0.0, placeholder=True)


@dataclass
class ScriptedProvider:
    """Answers with a tiny PNG; ``fail`` decides per (page, call number) what to raise."""

    fail: Callable[[int, int], Exception | None] = lambda page, n: None
    hold: asyncio.Event | None = None
    calls: list[int] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    name: str = "scripted"
    credential_id: str = "scripted"

    async def generate(self, request: ImageRequest) -> ImageResult:
        page = request.slide.page_num
        self.calls.append(page)
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        error = self.fail(page, self.calls.count(page))
        if error is not None:
            raise error
        return ImageResult(PNG, "image/png", 64, 36, latency_s=0.001, cost=0.01)


@dataclass
class Harness:
    engine: BatchEngine
    database: Database
    provider: ScriptedProvider
    log_dir: Path


def _request(n: int, *, workers: int | None = None) -> BatchRequest:
    slides = tuple(
        Slide(f"s{i}", i, SlideType.CONTENT, f"Slide {i}", "point", "") for i in range(1, n + 1)
    )
    return BatchRequest(slides, "deep blue", AspectRatio(16, 9), workers)


@pytest.fixture
async def make_harness(tmp_path: Path, database_url: str) -> AsyncIterator[Callable[..., object]]:
    """Engines on one fresh database, once on SQLite and once on PostgreSQL."""
    opened: list[Harness] = []

    async def make(
        provider: ScriptedProvider | None = None,
        *,
        max_concurrent: int = 10,
        max_in_flight: int = 8,
        placeholder: bool = False,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Clock | None = None,
    ) -> Harness:
        provider = provider or ScriptedProvider()
        database = await Database.open(database_url)
        clock = clock or SystemClock()
        gate = Gate(GateConfig(rate=None, max_in_flight=max_in_flight), clock=clock)
        policy = RetryPolicy(
            max_attempts=3, max_requeues=5, base=0.001, cap=0.002, rng=random.Random(1)
        )
        log_dir = tmp_path / "logs"
        log = PipelineLog(log_dir)
        engine = BatchEngine(
            repo=database.batches,
            images=ImageStore(tmp_path / "images"),
            provider_name=provider.name,
            dispatcher=Dispatcher(provider, gate, policy, clock=clock, attempt_timeout=5, log=log),
            limits=EngineLimits(
                max_concurrent=max_concurrent, max_workers=20, default_workers=None
            ),
            log=log,
            events=EventBus(),
            clock=clock,
            figures=lambda: UpstreamFigures(rate=None, window=60, latency=1.0),
            placeholder=(lambda req, reason: STAND_IN) if placeholder else None,
            wall=wall,
        )
        await engine.start()
        harness = Harness(engine, database, provider, log_dir)
        opened.append(harness)
        return harness

    yield make
    for harness in opened:
        await harness.engine.stop()
        await harness.database.close()


def _log_events(log_dir: Path) -> list[dict[str, object]]:
    lines = []
    for path in sorted(log_dir.glob("pipeline_*.log")):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


async def test_batch_runs_to_completed_and_logs_the_seed_events(make_harness) -> None:
    """Every slide ends done, files exist, and the seed's three log events are written."""
    h = await make_harness()
    batch, created = await h.engine.submit(_request(5, workers=2))
    assert created
    done = await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert done.state is BatchState.COMPLETED
    slides = await h.database.batches.get_slides(batch.id)
    assert [s.state for s in slides] == [SlideState.DONE] * 5
    for record in slides:
        assert h.engine.images.path(batch.id, record.image_file or "").is_file()
    names = [e["event"] for e in _log_events(h.log_dir)]
    assert names.count("slide_completed") == 5
    assert names[0] == "batch_created"
    assert "batch_generate_start" in names
    complete = [e for e in _log_events(h.log_dir) if e["event"] == "batch_generate_complete"]
    assert complete[0]["summary"]["successful"] == 5  # type: ignore[index]
    assert complete[0]["summary"]["total_slides"] == 5  # type: ignore[index]


async def test_permanent_failure_fails_only_that_slide_and_retry_recovers(make_harness) -> None:
    """A permanent error fails one slide at once; retry_failed later completes the batch."""
    broken = {"on": True}

    def fail(page: int, n: int) -> Exception | None:
        if page == 2 and broken["on"]:
            return PermanentProviderError("content policy: refused")
        return None

    h = await make_harness(ScriptedProvider(fail=fail))
    batch, _ = await h.engine.submit(_request(3))
    record = await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert record.state is BatchState.COMPLETED_WITH_ERRORS
    assert h.provider.calls.count(2) == 1  # permanent: never retried
    status = await h.engine.read.status(batch.id)
    failed = [r for r in status.results or () if r.state == "error"]
    assert [r.page_num for r in failed] == [2]
    assert "content policy" in (failed[0].error_message or "")

    broken["on"] = False
    assert await h.engine.retry_failed(batch.id) == 1
    record = await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert record.state is BatchState.COMPLETED


async def test_transient_errors_are_retried_until_done(make_harness) -> None:
    """Two transient failures then success: the slide ends done after three paid attempts."""

    def fail(page: int, n: int) -> Exception | None:
        return TransientProviderError("HTTP 502") if page == 1 and n <= 2 else None

    h = await make_harness(ScriptedProvider(fail=fail))
    batch, _ = await h.engine.submit(_request(2))
    assert (await asyncio.wait_for(h.engine.wait(batch.id), 10)).state is BatchState.COMPLETED
    slide = (await h.database.batches.get_slides(batch.id))[0]
    assert slide.attempts == 3
    retries = [e for e in _log_events(h.log_dir) if e["event"] == "slide_retry"]
    assert len(retries) == 2


async def test_a_429_is_one_record_in_one_system(make_harness) -> None:
    """One 429 writes one pipeline event (slide_retry, with its figures) and nothing else."""

    def fail(page: int, n: int) -> Exception | None:
        if page == 1 and n == 1:
            # The upstream's figures (a high limit) keep the gate from learning a slow rate.
            return RateLimited(
                "HTTP 429", retry_after=0.01, upstream_request_id="req-429", limit=1000
            )
        return None

    h = await make_harness(ScriptedProvider(fail=fail))
    batch, _ = await h.engine.submit(_request(2))
    assert (await asyncio.wait_for(h.engine.wait(batch.id), 10)).state is BatchState.COMPLETED
    told = [e for e in _log_events(h.log_dir) if "req-429" in json.dumps(e)]
    assert [e["event"] for e in told] == ["slide_retry"]
    details = told[0]["details"]
    assert isinstance(details, dict)
    assert (details["status"], details["retry_after"]) == (429, 0.01)
    assert details["error_kind"] == "rate_limited"


async def test_batches_beyond_max_concurrent_wait_in_fifo_order(make_harness) -> None:
    """With one running place, the second batch is queued at position 1 until the first ends."""
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold), max_concurrent=1)
    first, _ = await h.engine.submit(_request(2))
    second, _ = await h.engine.submit(_request(2))
    status = await h.engine.read.status(second.id)
    assert status.status == "queued"
    assert status.queue_position == 1
    assert (await h.engine.read.status(first.id)).status == "running"
    listed = (await h.engine.read.page(owner=None, limit=10, offset=0)).items
    assert [(b.batch_id, b.queue_position) for b in listed] == [(second.id, 1), (first.id, None)]
    hold.set()
    assert (await asyncio.wait_for(h.engine.wait(second.id), 10)).state is BatchState.COMPLETED


async def test_cancel_stops_pending_slides(make_harness) -> None:
    """Cancelling a running batch: nothing new starts; the batch ends cancelled."""
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold))
    batch, _ = await h.engine.submit(_request(6, workers=1))
    await h.provider.started.wait()
    await h.engine.cancel(batch.id)
    hold.set()
    record = await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert record.state is BatchState.CANCELLED
    assert len(h.provider.calls) == 1
    counts = await h.database.batches.slide_counts(batch.id)
    assert counts.get(SlideState.CANCELLED) == 5


async def test_cancel_drops_slides_started_ahead_unsent(make_harness) -> None:
    """Slides stored 'generating' ahead of a free slot when their batch is cancelled are
    never sent: they end cancelled with that attempt unpaid, and none stays generating."""
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold), max_in_flight=2)
    batch, _ = await h.engine.submit(_request(5))
    repo = h.database.batches
    for _ in range(1000):  # until two are sent and two more started ahead of a slot
        if (await repo.slide_counts(batch.id)).get(SlideState.GENERATING, 0) == 4:
            break
        await asyncio.sleep(0.01)
    await h.engine.cancel(batch.id)
    hold.set()
    record = await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert record.state is BatchState.CANCELLED
    assert len(h.provider.calls) == 2
    slides = await repo.get_slides(batch.id)
    assert sorted(s.state for s in slides) == [SlideState.CANCELLED] * 3 + [SlideState.DONE] * 2
    assert [s.attempts for s in slides if s.state is SlideState.CANCELLED] == [0, 0, 0]
    events = [e["event"] for e in _log_events(h.log_dir) if e.get("batch_id") == batch.id]
    assert events.count("slide_dropped") == 2


async def test_hold_returns_slides_started_ahead_to_pending_and_a_restart_sends_them_once(
    make_harness,
) -> None:
    """hold() (a CLI's first Ctrl-C) while two slides wait 'generating' for a slot: they are
    stored pending again with no attempt counted, a status poll says so, nothing is sent for
    them; the restart sends each of the three unsent slides once."""
    hold = asyncio.Event()
    first = await make_harness(ScriptedProvider(hold=hold), max_in_flight=2)
    batch, _ = await first.engine.submit(_request(5))
    repo = first.database.batches
    for _ in range(1000):  # until two are sent and two more started ahead of a slot
        if (await repo.slide_counts(batch.id)).get(SlideState.GENERATING, 0) == 4:
            break
        await asyncio.sleep(0.01)
    await first.engine.read.status(batch.id)  # the snapshot the next poll builds on
    first.engine.hold()
    hold.set()
    await asyncio.wait_for(first.engine.settle(), 10)
    slides = await repo.get_slides(batch.id)
    assert sorted(s.state for s in slides) == [SlideState.DONE] * 2 + [SlideState.PENDING] * 3
    assert [s.attempts for s in slides if s.state is SlideState.PENDING] == [0, 0, 0]
    assert all(s.started_at is None for s in slides if s.state is SlideState.PENDING)
    status = await first.engine.read.status(batch.id)
    assert status.results is not None
    assert [a.state for a in status.results].count(SlideState.PENDING) == 3
    assert sorted(first.provider.calls) == [1, 2]
    events = [e["event"] for e in _log_events(first.log_dir) if e.get("batch_id") == batch.id]
    assert events.count("slide_returned") == 2
    await first.engine.stop()
    second = await make_harness()
    record = await asyncio.wait_for(second.engine.wait(batch.id), 10)
    assert record.state is BatchState.COMPLETED
    assert sorted(second.provider.calls) == [3, 4, 5]
    assert [s.attempts for s in await repo.get_slides(batch.id)] == [1] * 5


async def test_restart_resumes_without_generating_finished_slides_again(make_harness) -> None:
    """An interrupted batch resumes on the next start; done slides are not paid for twice."""
    hold = asyncio.Event()
    first = await make_harness(ScriptedProvider(hold=hold))
    batch, _ = await first.engine.submit(_request(4, workers=1))
    await first.provider.started.wait()
    # Simulate a crash: stop dispatching while slide 1 is generating and 2-4 are pending.
    await first.engine.stop()
    repo = first.database.batches
    key = await repo.find_slide_key(batch.id, "s2")
    await repo.mark_done(
        batch.id,
        key,
        image_file=first.engine.images.write(batch.id, key, 2, PNG),
        generation_time=0.1,
        cost=None,
        placeholder=False,
        at=datetime.now(UTC),
    )
    second = await make_harness()
    record = await asyncio.wait_for(second.engine.wait(batch.id), 10)
    assert record.state is BatchState.COMPLETED
    assert sorted(second.provider.calls) == [1, 3, 4]


async def test_regenerate_uses_the_new_visual_description(make_harness) -> None:
    """Regenerating with a new visual_desc changes the prompt and produces a new image."""
    h = await make_harness()
    batch, _ = await h.engine.submit(_request(2))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    before = (await h.database.batches.get_slides(batch.id))[1]
    await h.engine.regenerate(batch.id, "s2", visual_desc="a lighthouse at night")
    record = await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert record.state is BatchState.COMPLETED
    after = (await h.database.batches.get_slides(batch.id))[1]
    assert after.slide.visual_desc == "a lighthouse at night"
    assert "a lighthouse at night" in after.final_prompt
    assert after.state is SlideState.DONE
    assert h.provider.calls.count(2) == 2
    assert before.final_prompt != after.final_prompt


async def test_same_idempotency_key_returns_the_same_batch(make_harness) -> None:
    """A client's retried POST with one Idempotency-Key does not start a second batch."""
    h = await make_harness()
    one, created_one = await h.engine.submit(_request(1), idempotency_key="k-1")
    two, created_two = await h.engine.submit(_request(1), idempotency_key="k-1")
    assert one.id == two.id
    assert (created_one, created_two) == (True, False)


async def test_failed_slide_degrades_to_marked_placeholder_when_enabled(make_harness) -> None:
    """With degradation on, a failed slide gets a placeholder image marked as such."""
    h = await make_harness(
        ScriptedProvider(fail=lambda page, n: PermanentProviderError("blocked")), placeholder=True
    )
    batch, _ = await h.engine.submit(_request(1))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    slide = (await h.database.batches.get_slides(batch.id))[0]
    assert slide.placeholder
    assert slide.image_file
    assert any(e["event"] == "slide_degraded" for e in _log_events(h.log_dir))


async def test_cleanup_removes_old_finished_batches_with_their_files(make_harness) -> None:
    """A batch finished longer ago than the cleanup age is deleted with its folder."""
    now = {"t": datetime.now(UTC)}
    h = await make_harness(wall=lambda: now["t"])
    batch, _ = await h.engine.submit(_request(1))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    folder = h.engine.images.batch_dir(batch.id)
    assert folder.is_dir()
    now["t"] += timedelta(hours=25)
    assert await h.engine.cleanup() == 1
    assert not folder.exists()
    assert (await h.database.batches.list_batches(owner=None, limit=10, offset=0))[1] == 0


async def test_watchers_get_slide_events_with_progress_then_the_batch_event(make_harness) -> None:
    """A subscriber sees each slide's changes with progress figures, then one final batch event."""
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold))
    batch, _ = await h.engine.submit(_request(3, workers=1))
    seen = []
    async with h.engine.events.subscribe(batch.id) as stream:
        hold.set()
        async for event in stream:
            seen.append(event)
    kinds = [e.kind for e in seen]
    assert kinds[-1] == "batch"
    final = seen[-1].data
    assert isinstance(final, BatchStatus)
    assert final.status == "completed"
    done = [e.data for e in seen if isinstance(e.data, SlideEvent) and e.data.slide.state == "done"]
    progress = [d.progress for d in done if d.progress is not None]
    assert [p.completed_slides for p in progress] == [1, 2, 3]
    assert all((d.slide.image_url or "").startswith("/api/images/") for d in done)
    assert progress[-1].progress == 1.0


async def test_progress_never_goes_backwards_when_an_earlier_slides_read_is_slower(
    make_harness,
) -> None:
    """Slide 2's event read answers after slide 3's (a busy pool): events still come in order.

    The flake this pins: slide 2 counted (progress 2), slide 3 counted (progress 3), and the
    read of slide 3 for its event came back first, so a watcher saw [1, 3, 2].
    """
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold))
    repo = h.database.batches
    real_get_slide = repo.get_slide
    third_read = asyncio.Event()

    async def get_slide(batch_id: str, key: int) -> object:
        record = await real_get_slide(batch_id, key)
        if record.state is SlideState.DONE and record.slide.page_num == 2:
            await third_read.wait()  # slide 3's done read answers first
        if record.state is SlideState.DONE and record.slide.page_num == 3:
            third_read.set()
        return record

    repo.get_slide = get_slide  # type: ignore[method-assign]
    batch, _ = await h.engine.submit(_request(3, workers=1))
    async with h.engine.events.subscribe(batch.id) as stream:
        hold.set()
        seen = [event.data async for event in stream]
    assert third_read.is_set()
    done = [d for d in seen if isinstance(d, SlideEvent) and d.slide.state == "done"]
    assert [d.slide.page_num for d in done] == [1, 2, 3]
    assert [d.progress.completed_slides for d in done if d.progress] == [1, 2, 3]
    assert isinstance(seen[-1], BatchStatus)


async def test_a_result_that_cannot_be_stored_fails_the_slide_not_the_batch(make_harness) -> None:
    """A full disk while storing one image fails that slide; the batch still ends."""
    h = await make_harness()
    real_write = h.engine.images.write

    def flaky_write(batch_id: str, key: int, page_num: int, data: bytes, **kw: object) -> str:
        if page_num == 2:
            raise OSError(28, "No space left on device")
        return real_write(batch_id, key, page_num, data, **kw)  # type: ignore[arg-type]

    h.engine.images.write = flaky_write  # type: ignore[method-assign]
    batch, _ = await h.engine.submit(_request(3))
    record = await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert record.state is BatchState.COMPLETED_WITH_ERRORS
    failed = [
        s for s in await h.database.batches.get_slides(batch.id) if s.state is SlideState.ERROR
    ]
    assert [s.slide.page_num for s in failed] == [2]
    assert "could not store the image" in (failed[0].error_message or "")


async def test_waiting_on_a_queued_batch_ends_when_it_is_cancelled(make_harness) -> None:
    """A synchronous client waiting on a queued batch gets an answer when it is cancelled."""
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold), max_concurrent=1)
    await h.engine.submit(_request(1))
    queued, _ = await h.engine.submit(_request(1))
    waiter = asyncio.create_task(h.engine.wait(queued.id))
    await asyncio.sleep(0)
    await h.engine.cancel(queued.id)
    assert (await asyncio.wait_for(waiter, 5)).state is BatchState.CANCELLED
    hold.set()


async def test_waiting_on_a_deleted_batch_raises_not_found(make_harness) -> None:
    """Deleting a batch someone waits on ends the wait with NotFound, not a hang."""
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold))
    batch, _ = await h.engine.submit(_request(2))
    waiter = asyncio.create_task(h.engine.wait(batch.id))
    await h.provider.started.wait()
    await h.engine.delete(batch.id)
    with pytest.raises(NotFound):
        await asyncio.wait_for(waiter, 5)
    hold.set()


async def test_deleting_a_running_batch_leaves_no_files(make_harness) -> None:
    """Attempts still in flight when their batch is deleted leave no orphan image."""
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold))
    batch, _ = await h.engine.submit(_request(2))
    await h.provider.started.wait()
    await h.engine.delete(batch.id)
    hold.set()
    await asyncio.wait_for(h.engine.dispatcher.drain(), 5)
    assert not list(h.engine.images.batch_dir(batch.id).glob("*.png"))


async def test_concurrent_regenerates_of_one_slide_pay_once(make_harness) -> None:
    """Two regenerate calls racing on one slide: one wins, the other is a Conflict."""
    h = await make_harness()
    batch, _ = await h.engine.submit(_request(1))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    results = await asyncio.gather(
        h.engine.regenerate(batch.id, "s1"),
        h.engine.regenerate(batch.id, "s1"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert h.provider.calls.count(1) == 2  # the first run and one regenerate


async def test_retry_after_cancel_ends_as_the_slides_say(make_harness) -> None:
    """Cancel, then retry the cancelled slides: the batch ends completed, not cancelled."""
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold))
    batch, _ = await h.engine.submit(_request(3, workers=1))
    await h.provider.started.wait()
    await h.engine.cancel(batch.id)
    assert await h.engine.retry_failed(batch.id) == 2
    hold.set()
    record = await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert record.state is BatchState.COMPLETED


async def test_wait_slide_returns_when_that_slide_is_done(make_harness) -> None:
    """wait_slide answers for one regenerated slide without waiting for the others."""
    h = await make_harness()
    batch, _ = await h.engine.submit(_request(2))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    await h.engine.regenerate(batch.id, "s2", visual_desc="new")
    record = await asyncio.wait_for(h.engine.wait_slide(batch.id, "s2"), 10)
    assert record.state is SlideState.DONE
    assert record.slide.visual_desc == "new"


async def test_a_spent_quota_shows_in_status_and_events_and_costs_no_attempt(
    make_harness,
) -> None:
    """A daily cap: the batch says waiting_for_quota with the reset; the slide keeps its budget."""
    reset = datetime.now(UTC).timestamp() + 7200

    def fail(page: int, n: int) -> Exception | None:
        return QuotaExhausted("daily quota used up", reset_at=reset) if page == 1 else None

    h = await make_harness(ScriptedProvider(fail=fail))
    batch, _ = await h.engine.submit(_request(2, workers=1))
    waits = []
    async with h.engine.events.subscribe(batch.id) as stream:
        async for event in stream:
            data = event.data
            progress = data.progress if isinstance(data, SlideEvent) else None
            if progress is not None and progress.waiting_for_quota is not None:
                waits.append(progress.waiting_for_quota)
                break
    status = await h.engine.read.status(batch.id)
    wait = status.progress.waiting_for_quota
    assert waits
    assert wait is not None
    assert abs(wait.until.timestamp() - reset) < 5
    assert "daily quota" in wait.reason
    assert status.status == "running"
    (first,) = [s for s in status.results or () if s.page_num == 1]
    assert first.state == "pending"
    assert first.attempts == 0, "a spent quota is not a paid attempt"
    assert h.provider.calls.count(1) == 1, "no retry while the quota is spent"
    # The batch list says it too (it listed every batch with waiting_for_quota null).
    (listed,) = (await h.engine.read.page(owner=None, limit=10, offset=0)).items
    assert listed.progress.waiting_for_quota == wait
    assert listed.progress.estimated_remaining_time is not None


async def test_a_waiting_client_hears_of_a_spent_quota_at_once(
    make_harness,
) -> None:
    """wait_unless_parked raises QuotaExhausted with the reset instead of waiting hours."""
    reset = datetime.now(UTC).timestamp() + 7200

    def fail(page: int, n: int) -> Exception | None:
        return QuotaExhausted("no credits left", reset_at=reset)

    h = await make_harness(ScriptedProvider(fail=fail))
    batch, _ = await h.engine.submit(_request(1, workers=1))
    with pytest.raises(QuotaExhausted) as caught:
        await asyncio.wait_for(h.engine.wait_unless_parked(batch.id, check_every=0.01), 30)
    assert caught.value.reset_at is not None
    assert abs(caught.value.reset_at - reset) < 5
    assert "resumes then" in str(caught.value)
    assert (await h.engine.read.status(batch.id)).status == "running"


async def test_a_status_poll_reads_only_the_slides_changed_since_the_last(make_harness) -> None:
    """After one slide is regenerated, a poll reads that slide alone and answers as a full read."""
    h = await make_harness()
    batch, _ = await h.engine.submit(_request(6))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    await h.engine.read.status(batch.id)  # the snapshot the next poll builds on
    await h.engine.regenerate(batch.id, "s4", visual_desc="a harbour")
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    statements: list[tuple[str, object]] = []

    def seen(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        statements.append((statement, params))

    engine = h.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        status = await h.engine.read.status(batch.id)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    slide_reads = [s for s, _ in statements if "FROM slides" in s]
    assert len(slide_reads) == 1
    # Only the changed key, not the whole batch (``= ANY`` of an array on PostgreSQL).
    assert " IN " in slide_reads[0] or "= ANY" in slide_reads[0]
    expected = tuple(SlideAnswer.of(s) for s in await h.database.batches.get_slides(batch.id))
    assert status.results == expected
    assert status.results[3].visual_desc == "a harbour"
    assert status.progress.successful == 6


async def test_a_poll_after_one_change_counts_no_slide_again(
    make_harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll after one slide changed moves the counts and the spend by that slide alone: no
    recount over the batch's slides; the answer is the one a full read gives."""
    h = await make_harness()
    batch, _ = await h.engine.submit(_request(6))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    await h.engine.read.status(batch.id)  # the snapshot the next poll builds on
    await h.engine.regenerate(batch.id, "s4", visual_desc="a harbour")
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    recounts: list[int] = []
    real = reader_module.state_counts

    def counting(slides: Sequence[SlideRecord]) -> dict[SlideState, int]:
        recounts.append(len(slides))
        return real(slides)

    monkeypatch.setattr(reader_module, "state_counts", counting)
    status = await h.engine.read.status(batch.id)
    assert recounts == []
    records = await h.database.batches.get_slides(batch.id)
    assert status.progress.successful == real(records)[SlideState.DONE] == 6
    assert status.cost == spent(r.spent for r in records)


async def test_admission_reads_the_queue_once_per_pass_not_per_batch(make_harness) -> None:
    """Five queued batches start after a few reads of the queue (was one read per batch)."""
    h = await make_harness(ScriptedProvider(hold=asyncio.Event()))
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    engine = h.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    async with h.engine.runs.lock:  # hold admission until all five are stored
        ids = [(await h.engine.submit(_request(2), admit_later=True))[0].id for _ in range(5)]
        statements.clear()
    await h.engine.runs.admit()
    event.remove(engine, "before_cursor_execute", seen)
    queue_reads = [s for s in statements if "FROM batches" in s and "ORDER BY" in s]
    # The background pass reads, starts all five, reads the empty rest; ours reads once.
    assert len(queue_reads) <= 3
    for batch_id in ids:
        assert (await h.database.batches.get_batch(batch_id)).state is BatchState.RUNNING
    assert h.provider.hold is not None
    h.provider.hold.set()


async def _turns(n: int = 10) -> None:
    """Let every task that can run without I/O or the clock take its turns."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_background_admission_waits_until_the_submits_are_answered(
    make_harness, monkeypatch
) -> None:
    """Batches stored with ``admit_later`` start once no submit is being answered and none
    was for ``ADMIT_QUIET_S``: a burst is answered before its dispatch takes the CPU."""
    clock = FakeClock(autojump=False)
    h = await make_harness(clock=clock)
    passes: list[float] = []

    async def admit() -> None:
        passes.append(clock.now())

    monkeypatch.setattr(h.engine.runs, "admit", admit)
    with h.engine.answering():
        await h.engine.submit(_request(2), admit_later=True)
        with h.engine.answering():  # a second submit answered meanwhile
            await h.engine.submit(_request(2), admit_later=True)
            clock.advance(ADMIT_WAIT_MAX_S / 2)
            await _turns()
        clock.advance(ADMIT_QUIET_S * 2)  # one answer still being built
        await _turns()
        assert passes == []
    clock.advance(ADMIT_QUIET_S / 2)
    await _turns()
    assert passes == []
    clock.advance(ADMIT_QUIET_S)
    await _turns()
    assert passes == [pytest.approx(ADMIT_WAIT_MAX_S / 2 + ADMIT_QUIET_S * 3.5)]


async def test_background_admission_waits_at_most_its_limit_and_admits_for_real(
    make_harness,
) -> None:
    """A stream of submits never holds admission longer than ``ADMIT_WAIT_MAX_S``."""
    clock = FakeClock(autojump=False)
    h = await make_harness(ScriptedProvider(hold=asyncio.Event()), clock=clock)
    with h.engine.answering():
        batch, _ = await h.engine.submit(_request(2), admit_later=True)
        clock.advance(ADMIT_WAIT_MAX_S * 0.9)
        await _turns()
        assert (await h.database.batches.get_batch(batch.id)).state is BatchState.QUEUED
        clock.advance(ADMIT_WAIT_MAX_S * 0.2)  # past the limit, still answering
        for _ in range(200):
            if (await h.database.batches.get_batch(batch.id)).state is BatchState.RUNNING:
                break
            await asyncio.sleep(0.005)
        assert (await h.database.batches.get_batch(batch.id)).state is BatchState.RUNNING
    assert h.provider.hold is not None
    h.provider.hold.set()


@dataclass
class StyleRecorder(ScriptedProvider):
    """A scripted provider that also notes each request's style prompt, in call order."""

    styles: list[str] = field(default_factory=list)

    async def generate(self, request: ImageRequest) -> ImageResult:
        self.styles.append(request.style_prompt)
        return await super().generate(request)


async def test_admission_starts_queued_batches_in_one_transaction_in_fifo_order(
    make_harness,
) -> None:
    """Five queued batches become running in one write (not one per batch), are announced in
    the order they were submitted, and their first slides go out in that order."""
    hold = asyncio.Event()
    h = await make_harness(StyleRecorder(hold=hold))
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    engine = h.database.engine.sync_engine
    async with h.engine.runs.lock:  # hold admission until all five are stored
        ids = []
        for n in range(5):
            request = replace(_request(2, workers=1), style_prompt=f"style {n}")
            ids.append((await h.engine.submit(request, admit_later=True))[0].id)
        event.listen(engine, "before_cursor_execute", seen)
    await h.engine.runs.admit()
    event.remove(engine, "before_cursor_execute", seen)
    batch_updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE BATCHES")]
    assert len(batch_updates) == 1
    started = [
        e["batch_id"] for e in _log_events(h.log_dir) if e["event"] == "batch_generate_start"
    ]
    assert started == ids
    for _ in range(100):
        if len(h.provider.styles) == 5:
            break
        await asyncio.sleep(0.01)
    assert h.provider.styles == [f"style {n}" for n in range(5)]
    records = [await h.database.batches.get_batch(i) for i in ids]
    assert all(r.state is BatchState.RUNNING and r.started_at is not None for r in records)
    hold.set()
    for batch_id in ids:
        final = await asyncio.wait_for(h.engine.wait(batch_id), 10)
        assert final.state is BatchState.COMPLETED


async def test_starting_batches_keeps_the_first_start_and_skips_a_deleted_batch(
    make_harness,
) -> None:
    """``start_batches``: answers in the order asked, leaves out a batch deleted meanwhile, and
    keeps ``started_at`` of a batch that ran before (a retried one going back to running)."""
    h = await make_harness(ScriptedProvider(hold=asyncio.Event()), max_concurrent=1)
    repo = h.database.batches
    async with h.engine.runs.lock:
        ids = [(await h.engine.submit(_request(2), admit_later=True))[0].id for _ in range(3)]
        first = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        await repo.start_batches([ids[2]], at=first)
        await repo.delete_batch(ids[1])
        later = first + timedelta(hours=1)
        started = await repo.start_batches([ids[2], ids[1], ids[0]], at=later)
    assert [batch.id for batch, _, _ in started] == [ids[2], ids[0]]
    assert [batch.started_at for batch, _, _ in started] == [first, later]
    assert all(batch.state is BatchState.RUNNING for batch, _, _ in started)
    assert [[s.key for s in slides] for _, slides, _ in started] == [[0, 1], [0, 1]]
    assert h.provider.hold is not None
    h.provider.hold.set()


async def test_a_change_of_the_batch_itself_is_read_by_the_next_poll(make_harness) -> None:
    """After a cancel (the batch's own fields change), the next poll reads the batch's row
    again: its answer is the stored one, never the snapshot from before."""
    hold = asyncio.Event()
    h = await make_harness(ScriptedProvider(hold=hold))
    batch, _ = await h.engine.submit(_request(4, workers=1))
    await h.provider.started.wait()
    await h.engine.read.status(batch.id)  # the snapshot the next poll builds on
    await h.engine.cancel(batch.id)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    engine = h.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        status = await h.engine.read.status(batch.id)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert any("FROM batches" in s for s in statements)
    stored = await h.database.batches.get_batch(batch.id)
    assert stored.cancel_requested
    assert status.progress.failed == 3  # the three pending slides, cancelled
    hold.set()
    final = await asyncio.wait_for(h.engine.wait(batch.id), 10)
    assert final.state is BatchState.CANCELLED
    assert (await h.engine.read.status(batch.id)).status == "cancelled"


async def test_polls_between_slide_changes_skip_the_batch_row(make_harness) -> None:
    """Slide changes alone: the next poll reads the changed slides only, and its answer is the
    one a full read gives."""
    h = await make_harness()
    batch, _ = await h.engine.submit(_request(3))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    await h.engine.read.status(batch.id)
    # Slides change while the batch's own fields do not (what the recorder does per slide).
    await h.database.batches.mark_waiting(batch.id, 1, message="again", attempts=1, requeues=0)
    h.engine.watchers.versions.slide_changed(batch.id, 1)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    engine = h.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        status = await h.engine.read.status(batch.id)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert not any("FROM batches" in s for s in statements)
    assert [s for s in statements if "FROM slides" in s]
    full = tuple(SlideAnswer.of(s) for s in await h.database.batches.get_slides(batch.id))
    assert status.results == full
    assert status.results[1].status == "pending"


async def test_the_list_reuses_a_finished_batchs_answer_and_follows_any_change(
    make_harness,
) -> None:
    """Listed twice unchanged, a finished batch's answer is the same value (made once); after
    a retry of its failed slide the list shows it running again, then completed."""

    def fail(page: int, n: int) -> Exception | None:
        return PermanentProviderError("refused") if page == 2 and n == 1 else None

    h = await make_harness(ScriptedProvider(fail=fail))
    batch, _ = await h.engine.submit(_request(2, workers=1))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    (first,) = (await h.engine.read.page(owner=None, limit=10, offset=0)).items
    (again,) = (await h.engine.read.page(owner=None, limit=10, offset=0)).items
    assert again is first
    assert (first.status, first.progress.failed) == (BatchState.COMPLETED_WITH_ERRORS, 1)
    await h.engine.retry_failed(batch.id)
    (retried,) = (await h.engine.read.page(owner=None, limit=10, offset=0)).items
    assert retried.status in (BatchState.RUNNING, BatchState.COMPLETED)
    assert retried.progress.failed == 0
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    (done,) = (await h.engine.read.page(owner=None, limit=10, offset=0)).items
    assert (done.status, done.progress.successful) == (BatchState.COMPLETED, 2)
