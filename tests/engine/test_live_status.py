"""Polls of a batch this engine runs are answered from what its writes stored: no query."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import event
from tests.engine.test_batch_engine import PNG, Harness, _request, make_harness  # noqa: F401

from slidebatch.core.cost import spent
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import BatchStatus, SlideAnswer, SlideEvent
from slidebatch.engine.events import BatchEvent
from slidebatch.providers.base import ImageRequest, ImageResult

AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


@dataclass
class SteppedProvider:
    """Each call waits until the test lets it finish (``release``), one at a time."""

    name: str = "stepped"
    credential_id: str = "stepped"
    calls: list[asyncio.Event] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def generate(self, request: ImageRequest) -> ImageResult:
        go = asyncio.Event()
        self.calls.append(go)
        self.arrived.set()
        await go.wait()
        return ImageResult(PNG, "image/png", 64, 36, latency_s=0.001, cost=0.01)

    async def called(self, count: int) -> None:
        """Return once ``count`` calls have arrived."""
        while len(self.calls) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)


@contextmanager
def _statements(h: Harness) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    engine = h.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _reported(stream: AsyncIterator[BatchEvent], *wanted: tuple[str, SlideState]) -> None:
    """Return once the engine published each (slide id, state) of ``wanted``, in any order."""
    left = set(wanted)
    async for item in stream:
        data = item.data
        if isinstance(data, SlideEvent):
            left.discard((data.slide.slide_id, data.slide.state))
        if not left:
            return


async def _as_stored(h: Harness, batch_id: str, status: BatchStatus) -> None:
    """``status`` answers as a full read of the database does: slides and spend."""
    records = await h.database.batches.get_slides(batch_id)
    assert status.results == tuple(SlideAnswer.of(r) for r in records)
    assert status.cost == spent(r.spent for r in records)


async def test_polls_of_a_batch_running_here_read_nothing(make_harness) -> None:  # noqa: F811
    """From its start to its end, polls of a batch running here (slides started, slides done,
    the batch's end) send no statement, and answer as a full read does."""
    provider = SteppedProvider()
    h = await make_harness(provider)
    batch, _ = await h.engine.submit(_request(3, workers=1))
    await provider.called(1)  # its start is stored and published before the call
    async with h.engine.events.subscribe(batch.id) as stream:
        with _statements(h) as seen:
            status = await h.engine.read.status(batch.id)
        assert seen == []
        await _as_stored(h, batch.id, status)
        for step in (1, 2):
            provider.calls[step - 1].set()
            await provider.called(step + 1)
            await _reported(
                stream, (f"s{step}", SlideState.DONE), (f"s{step + 1}", SlideState.GENERATING)
            )
            with _statements(h) as seen:
                status = await h.engine.read.status(batch.id)
            assert seen == []
            assert status.progress.successful == step
            await _as_stored(h, batch.id, status)
    provider.calls[2].set()
    assert (await asyncio.wait_for(h.engine.wait(batch.id), 10)).state is BatchState.COMPLETED
    with _statements(h) as seen:
        status = await h.engine.read.status(batch.id)
    assert seen == []
    assert status.status == "completed"
    assert status.results is not None
    assert status.results[2].state is SlideState.DONE
    await _as_stored(h, batch.id, status)
    stored = await h.database.batches.get_batch(batch.id)
    assert (status.created_at, status.finished_at) == (stored.created_at, stored.finished_at)


async def test_a_write_that_a_read_may_hold_is_read_again_not_added_twice(
    make_harness,  # noqa: F811
) -> None:
    """A write that began before a poll's read ended may be in that read already: the next
    poll reads that slide again instead of adding its spend a second time; a write that
    began after it is applied from memory."""
    h = await make_harness()
    batch, _ = await h.engine.submit(_request(2))
    await asyncio.wait_for(h.engine.wait(batch.id), 10)
    repo, versions = h.database.batches, h.engine.watchers.versions
    before = await h.engine.read.status(batch.id)
    done = await repo.mark_done(
        batch.id, 0, image_file="p001-k0-aaaaaaaaaaaa.png", generation_time=1.0, cost=0.5,
        placeholder=False, at=AT,
    )  # fmt: skip
    await h.engine.read.status(batch.id)  # nothing reported yet: the snapshot stays
    versions.slide_changed(batch.id, 0)  # another change makes the next poll read slide 0
    read = await h.engine.read.status(batch.id)
    versions.slide_changed(batch.id, 0, done)  # reported late: began before that read ended
    with _statements(h) as seen:
        status = await h.engine.read.status(batch.id)
    assert [s for s in seen if "FROM slides" in s]
    assert status.cost == read.cost == (before.cost or 0.0) + 0.5
    await _as_stored(h, batch.id, status)
    later = await repo.mark_done(
        batch.id, 1, image_file="p002-k1-bbbbbbbbbbbb.png", generation_time=1.0, cost=0.25,
        placeholder=False, at=AT,
    )  # fmt: skip
    versions.slide_changed(batch.id, 1, later)
    with _statements(h) as seen:
        status = await h.engine.read.status(batch.id)
    assert seen == []
    await _as_stored(h, batch.id, status)
