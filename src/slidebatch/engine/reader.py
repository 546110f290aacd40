"""The engine's read-only answers: status, results, lists and counts.

Each operation reads the batch once; live figures (ETA) come from the running batches.
Status answers are built from a snapshot of the batch's records kept per version
(``Versions``): while nothing changed, a poll costs no query at all, and ``since`` narrows
the slides to those changed after a cursor the client got from an earlier answer.

A batch this process runs changes by its own writes, which come with what they stored
(``SlideChange``): a poll applies them to its snapshot's records instead of reading the
changed slides, so a poll of a live batch does no query either. A slide changed without one
(a retry's reset, another process of a fleet) is read, as is a slide whose read may already
hold a change (a write that began before that read ended): a spend added twice would be
wrong, so only a new read knows.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.slide_change import applied_all
from slidebatch.core.states import BatchState, SlideState
from slidebatch.engine.answers import (
    ActiveCount,
    BatchPage,
    BatchResult,
    BatchStatus,
    SlideAnswer,
    state_counts,
    waiting_slides,
)
from slidebatch.engine.runs import LostBatch, Runs
from slidebatch.engine.versions import Versions
from slidebatch.errors import NotFound
from slidebatch.storage.repository import BatchRepository, ListedBatch

# Snapshots kept (least recently asked dropped first): far more than run at once.
SNAPSHOTS = 256
# Answers of listed batches kept (least recently listed dropped first): several pages of 200.
LISTED = 4096


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """A batch's records as stored at ``version``, with what a status answer adds up."""

    version: int
    batch: BatchRecord
    slides: tuple[SlideRecord, ...]
    counts: dict[SlideState, int]
    answers: tuple[SlideAnswer, ...]
    positions: dict[int, int]  # slide key -> its place in ``slides`` (page order)
    spends: tuple[float, ...]  # each slide's spend (0.0 when none was reported)
    paid: int  # slides with a reported spend
    estimated: int = 0  # slides whose cost is the model's price (``_estimated``)
    unknown: int = 0  # drawn slides without a price (``_unknown``)
    # Slides as read from the database, by key: the repository's ``writes_begun`` when the
    # read ended (a change that began at or before it may be in the record already).
    read_at: Mapping[int, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls, version: int, batch: BatchRecord, slides: Sequence[SlideRecord], read_at: int
    ) -> _Snapshot:
        answers = tuple(SlideAnswer.of(s) for s in slides)
        positions = {s.key: i for i, s in enumerate(slides)}
        spends = tuple(s.spent or 0.0 for s in slides)
        paid = sum(1 for s in slides if s.spent is not None)
        return cls(
            version,
            batch,
            tuple(slides),
            state_counts(slides),
            answers,
            positions,
            spends,
            paid,
            sum(map(_estimated, slides)),
            sum(map(_unknown, slides)),
            dict.fromkeys(positions, read_at),
        )

    def knows(self, keys: frozenset[int]) -> bool:
        return all(key in self.positions for key in keys)

    def merged(
        self,
        version: int,
        batch: BatchRecord,
        changed: Sequence[SlideRecord],
        read: Collection[int] = (),
        read_at: int = 0,
    ) -> _Snapshot:
        """This snapshot with ``changed`` slides replaced; counts and spend are moved by the
        changed slides alone (unchanged answers are kept as the same objects). ``read``: the
        keys of ``changed`` read from the database, at ``read_at`` (the others were brought
        up to date from what their writes stored)."""
        slides, answers, spends = list(self.slides), list(self.answers), list(self.spends)
        counts, paid = dict(self.counts), self.paid
        estimated, unknown = self.estimated, self.unknown
        reads = dict(self.read_at)
        for record in changed:
            if record.key in read:
                reads[record.key] = read_at
            else:
                reads.pop(record.key, None)
            at = self.positions[record.key]
            before = slides[at]
            counts[before.state] -= 1
            counts[record.state] += 1
            paid += (record.spent is not None) - (before.spent is not None)
            estimated += _estimated(record) - _estimated(before)
            unknown += _unknown(record) - _unknown(before)
            slides[at], answers[at] = record, SlideAnswer.of(record)
            spends[at] = record.spent or 0.0
        return _Snapshot(
            version,
            batch,
            tuple(slides),
            counts,
            tuple(answers),
            self.positions,
            tuple(spends),
            paid,
            estimated,
            unknown,
            reads,
        )

    @property
    def spent(self) -> float | None:
        """USD of every paid image of the batch; None when none reported a cost."""
        return round(math.fsum(self.spends), 6) if self.paid else None


def _estimated(slide: SlideRecord) -> bool:
    return slide.cost_estimated and slide.spent is not None


def _unknown(slide: SlideRecord) -> bool:
    return slide.state is SlideState.DONE and not slide.placeholder and slide.spent is None


class BatchReader:
    """Answers about stored batches, with what the running ones know."""

    def __init__(
        self, repo: BatchRepository, runs: Runs, versions: Versions, *, max_concurrent: int
    ) -> None:
        self._repo = repo
        self._runs = runs
        self._versions = versions
        self._max_concurrent = max_concurrent
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
        # By the id of a ListedBatch, which each entry keeps (so the id is not reused).
        self._listed_answers: OrderedDict[int, tuple[ListedBatch, BatchStatus]] = OrderedDict()

    async def status(
        self, batch_id: str, *, owner: str | None = None, since: str | None = None
    ) -> BatchStatus:
        """The seed's status answer, with queue position, ETA and its ``version`` cursor.

        ``since`` (a cursor from an earlier answer): ``results`` holds only the slides
        changed after it (all of them when the cursor is unknown or too old).
        """
        lost = self._runs.lost.get(batch_id)
        if lost is not None:
            return self._lost(lost, owner)
        snapshot = await self._snapshot(batch_id, owner)
        batch = snapshot.batch
        position = None
        if batch.state is BatchState.QUEUED:
            position = await self._repo.queue_position(batch_id)
        eta, waiting = self._runs.outlook(batch, snapshot.slides)
        answer = BatchStatus.of(
            batch, snapshot.counts, eta=eta, queue_position=position, waiting=waiting
        )
        return replace(
            answer,
            results=waiting_slides(self._changed(snapshot, since), answer.progress),
            version=self._versions.cursor(batch.id, snapshot.version),
            cost=snapshot.spent,
            cost_estimated=snapshot.estimated > 0,
            costs_unknown=snapshot.unknown,
        )

    def _lost(self, lost: LostBatch, owner: str | None) -> BatchStatus:
        """A batch failed for want of its database, as this process last knew it."""
        if owner is not None and lost.batch.owner != owner:
            raise NotFound(f"batch {lost.batch.id} not found")
        known = self._snapshots.get(lost.batch.id)
        slides = None if known is None else known.slides
        cost = None if known is None else known.spent
        answer = BatchStatus.of(lost.batch, lost.counts, slides=slides, cost=cost)
        if known is not None:
            answer = replace(
                answer, cost_estimated=known.estimated > 0, costs_unknown=known.unknown
            )
        return replace(answer, error=lost.error)

    async def _snapshot(self, batch_id: str, owner: str | None) -> _Snapshot:
        version = self._versions.current(batch_id)  # before reading: a change meanwhile wins
        snapshot = self._snapshots.get(batch_id)
        if snapshot is None or snapshot.version != version:
            fresh = await self._fresh(batch_id, snapshot, version)
            kept = self._snapshots.get(batch_id)
            if kept is None or kept.version <= fresh.version:  # a slower poll keeps no older
                self._snapshots[batch_id] = fresh
                self._versions.settled(batch_id, fresh.version)
            snapshot = fresh
            while len(self._snapshots) > SNAPSHOTS:
                self._snapshots.popitem(last=False)
        if batch_id in self._snapshots:
            self._snapshots.move_to_end(batch_id)
        if owner is not None and snapshot.batch.owner != owner:
            raise NotFound(f"batch {batch_id} not found")
        return snapshot

    async def _fresh(self, batch_id: str, old: _Snapshot | None, version: int) -> _Snapshot:
        """The snapshot at ``version``: from ``old`` and the slides changed since, if it can.

        A running 200-slide batch changes several times per poll; only the changed slides
        are touched, and those this engine changed itself are brought up to date from what
        their writes stored, without a read. A batch that started here starts from its
        records as they started; a change of its row that said what it stored needs no read.
        """
        old = self._started(batch_id, old)
        keys = None if old is None else self._versions.changed_after(batch_id, old.version)
        if old is None or keys is None or not old.knows(keys):
            batch, slides = await self.records(batch_id)
            return _Snapshot.of(version, batch, slides, self._repo.writes_begun)
        patched, unread = self._patched(batch_id, old, keys)
        stored: BatchRecord | None = old.batch
        if self._versions.fields_changed_after(batch_id, old.version):
            stored = self._versions.stored_batch(batch_id)
        if stored is None:
            batch, read = await self._repo.get_batch_with_slides(batch_id, keys=unread)
        else:
            # Only slides moved (the usual poll of a running batch), or the row is known.
            batch, read = stored, await self._repo.slides_by_keys(batch_id, unread)
        read_at = self._repo.writes_begun
        return old.merged(version, batch, patched + read, unread, read_at)

    def _started(self, batch_id: str, old: _Snapshot | None) -> _Snapshot | None:
        """``old``, or the batch as it started here when that is newer."""
        start = self._versions.start(batch_id)
        if start is None or (old is not None and old.version >= start.version):
            return old
        return _Snapshot.of(start.version, start.batch, start.slides, start.read_at)

    def _patched(
        self, batch_id: str, old: _Snapshot, keys: frozenset[int]
    ) -> tuple[list[SlideRecord], frozenset[int]]:
        """The slides ``keys`` brought up to date from their stored changes, and the keys of
        those that must be read instead (a change not known, or maybe in the record already)."""
        changes = self._versions.changes_after(batch_id, old.version)
        patched: list[SlideRecord] = []
        unread: set[int] = set()
        for key in keys:
            found = None if changes is None else changes.get(key)
            read_at = old.read_at.get(key, 0)
            if found is None or any(change.begun <= read_at for change in found):
                unread.add(key)
            else:
                patched.append(applied_all(old.slides[old.positions[key]], found))
        return patched, frozenset(unread)

    def _changed(self, snapshot: _Snapshot, since: str | None) -> tuple[SlideAnswer, ...]:
        after = self._versions.since(since, snapshot.batch.id)
        keys = None if after is None else self._versions.changed_after(snapshot.batch.id, after)
        if keys is None or not snapshot.knows(keys):
            return snapshot.answers
        return tuple(snapshot.answers[at] for at in sorted(snapshot.positions[k] for k in keys))

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
        return await self._repo.get_batch_with_slides(batch_id, owner=owner)

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
        """One page of the batch list, newest first, without slides, with each batch's spend
        (one query, and one for the total).

        A batch running here has its ETA and what it waits for (the rate limit, a spent
        quota and its reset), as in its status; a queued one its place in the queue (one
        more query, asked only when the page shows a queued batch).
        """
        listed, total = await self._repo.list_batches(owner=owner, limit=limit, offset=offset)
        items = tuple(self._listed(one) for one in listed)
        if any(item.status is BatchState.QUEUED for item in items):
            # Only a page that shows a queued batch asks (the status's own figure).
            places = await self._repo.queue_positions()
            items = tuple(
                replace(item, queue_position=places.get(item.batch_id))
                if item.status is BatchState.QUEUED
                else item
                for item in items
            )
        return BatchPage(items, total, limit, offset)

    def _listed(self, listed: ListedBatch) -> BatchStatus:
        """The answer of a listed batch. One not running here is a value of its row alone,
        and the repository gives the same ``ListedBatch`` for an unchanged row: its answer
        is made once, not at every list."""
        batch, counts, spend = listed
        if batch.id in self._runs:
            eta, waiting = self._runs.outlook(batch, ())
            answer = BatchStatus.of(batch, counts, eta=eta, waiting=waiting, cost=spend.total)
            return replace(answer, cost_estimated=spend.estimated > 0, costs_unknown=spend.unknown)
        kept = self._listed_answers.get(id(listed))
        if kept is not None and kept[0] is listed:
            self._listed_answers.move_to_end(id(listed))
            return kept[1]
        answer = replace(
            BatchStatus.of(batch, counts, cost=spend.total),
            cost_estimated=spend.estimated > 0,
            costs_unknown=spend.unknown,
        )
        self._listed_answers[id(listed)] = (listed, answer)
        while len(self._listed_answers) > LISTED:
            self._listed_answers.popitem(last=False)
        return answer
