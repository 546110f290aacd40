"""The engine's read-only answers: status, results, lists and counts.

Each operation reads the batch once; live figures (ETA, progress) come from the running
batches, not from the database.
"""

from __future__ import annotations

from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.states import BatchState
from slidebatch.engine.answers import (
    ActiveCount,
    BatchPage,
    BatchResult,
    BatchStatus,
    SlideAnswer,
    state_counts,
)
from slidebatch.engine.runs import Runs
from slidebatch.storage.repository import BatchRepository


class BatchReader:
    """Answers about stored batches, with what the running ones know."""

    def __init__(self, repo: BatchRepository, runs: Runs, *, max_concurrent: int) -> None:
        self._repo = repo
        self._runs = runs
        self._max_concurrent = max_concurrent

    async def status(self, batch_id: str, *, owner: str | None = None) -> BatchStatus:
        """The seed's status answer, with queue position and ETA."""
        batch, slides = await self.records(batch_id, owner=owner)
        position = None
        if batch.state is BatchState.QUEUED:
            position = await self._repo.queue_position(batch_id)
        return BatchStatus.of(
            batch,
            state_counts(slides),
            eta=self._runs.eta(batch, slides),
            queue_position=position,
            slides=slides,
            waiting=self._runs.progress(batch_id),
        )

    async def result(self, batch_id: str) -> BatchResult:
        """The seed's synchronous generate answer."""
        return BatchResult.of(*await self.records(batch_id))

    async def owned(self, batch_id: str, *, owner: str | None = None) -> BatchRecord:
        """The batch, or ``NotFound`` when it is missing or (``owner`` given) not theirs."""
        return await self._repo.get_batch(batch_id, owner=owner)

    async def records(
        self, batch_id: str, *, owner: str | None = None
    ) -> tuple[BatchRecord, list[SlideRecord]]:
        """The batch and its slides as stored (for exports)."""
        batch = await self._repo.get_batch(batch_id, owner=owner)
        return batch, await self._repo.get_slides(batch_id)

    async def slide(self, batch_id: str, slide_id: str) -> SlideAnswer:
        """One slide by the client's id."""
        key = await self._repo.find_slide_key(batch_id, slide_id)
        return SlideAnswer.of(await self._repo.get_slide(batch_id, key))

    async def is_repeat(self, owner: str | None, idempotency_key: str | None) -> bool:
        """Whether ``idempotency_key`` already named a batch of ``owner``."""
        if idempotency_key is None:
            return False
        return await self._repo.find_by_idempotency_key(owner, idempotency_key) is not None

    async def active_count(self, owner: str | None = None) -> ActiveCount:
        """Running and queued batches (``owner`` given: only theirs)."""
        counts = await self._repo.count_active(owner)
        return ActiveCount(
            running=counts.get(BatchState.RUNNING, 0),
            queued=counts.get(BatchState.QUEUED, 0),
            max_concurrent=self._max_concurrent,
        )

    async def page(self, *, owner: str | None, limit: int, offset: int) -> BatchPage:
        """One page of the batch list, newest first, without slides (one query)."""
        listed, total = await self._repo.list_batches(owner=owner, limit=limit, offset=offset)
        items = tuple(BatchStatus.of(batch, counts) for batch, counts in listed)
        return BatchPage(items, total, limit, offset)
