"""Change versions of batches, so an unchanged status answer is never built twice.

Every change this engine makes to a batch or one of its slides takes the next number of one
process-wide counter. A status answer built at version ``v`` stays right until the batch's
version moves past ``v``; a client that saw ``v`` asks ``?since=<cursor>`` and gets only the
slides changed after it. A cursor carries the process's epoch: after a restart every old
cursor means "send everything".

A slide change this engine stored itself comes with what it stored (``SlideChange``). Those
are kept after the version the status reader holds (``settled``), so a poll of a batch
running here brings its answer up to date from memory (``changes_after``) instead of reading
the changed slides. A change that came without it (a retry's reset, another process of a
fleet) leaves its slide to be read from the database, as does a batch nobody polled for long
(its kept changes are dropped past a bound, and ``changes_after`` says so).

A change of the batch's own fields may come with the batch as stored (its start, its end:
``stored_batch``), and a batch's start with every slide as stored (``start``): the first
poll of a batch that started here, and the poll after its end, read nothing either.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from slidebatch.core.batch import BatchRecord, SlideRecord
from slidebatch.core.slide_change import SlideChange

# A batch's change log is rewritten (one entry per slide) once it holds this many times
# as many entries as slides, plus a little: the log stays bounded, the rewrite amortized.
_LOG_SLACK = 2
_LOG_MIN = 64


class _ChangeLog:
    """One batch's slide changes: each slide's latest version, and (version, key) in order.

    ``after(v)`` is a binary search and the tail after it: a poll's cost is the slides that
    moved since its cursor, not the batch's size (a 200-slide batch was a walk over every
    slide's version at every poll).
    """

    __slots__ = ("entries", "latest")

    def __init__(self) -> None:
        self.latest: dict[int, int] = {}
        self.entries: list[tuple[int, int]] = []  # (version, key), versions ascending

    def add(self, version: int, key: int) -> None:
        self.latest[key] = version
        self.entries.append((version, key))
        if len(self.entries) > _LOG_SLACK * len(self.latest) + _LOG_MIN:
            self.entries = sorted((at, k) for k, at in self.latest.items())

    def after(self, version: int) -> frozenset[int]:
        start = bisect.bisect_right(self.entries, (version, float("inf")))
        return frozenset(key for _, key in self.entries[start:])


class _Kept:
    """One batch's changes after ``floor``: (version, key, what was stored or None), in order."""

    __slots__ = ("entries", "floor")

    def __init__(self, floor: int = 0) -> None:
        self.entries: list[tuple[int, int, SlideChange | None]] = []
        self.floor = floor  # changes at or before this version are no longer kept

    def settle(self, version: int) -> None:
        """Drop the changes at or before ``version``."""
        start = bisect.bisect_right(self.entries, version, key=lambda entry: entry[0])
        del self.entries[:start]
        self.floor = max(self.floor, version)


@dataclass(frozen=True, slots=True)
class Start:
    """A batch as stored when it started running here, at ``version``: its row and every
    slide, read when the repository's ``writes_begun`` was ``read_at``."""

    version: int
    batch: BatchRecord
    slides: tuple[SlideRecord, ...]
    read_at: int


class Versions:
    """The version of each batch and of each of its slides (this process's changes)."""

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(4)
        self._counter = itertools.count(1)
        self._batch: dict[str, int] = {}
        self._fields: dict[str, int] = {}  # the batch's own fields last changed at this version
        self._floor: dict[str, int] = {}  # every slide changed at this version
        self._slides: dict[str, _ChangeLog] = {}
        self._kept: dict[str, _Kept] = {}
        # The batch row as stored by its latest change of fields, when that change said.
        self._rows: dict[str, tuple[int, BatchRecord]] = {}
        self._starts: dict[str, Start] = {}

    def slide_changed(self, batch_id: str, key: int, change: SlideChange | None = None) -> None:
        """One slide of ``batch_id`` changed (``change``: what was stored, when known)."""
        version = next(self._counter)
        self._batch[batch_id] = version
        log = self._log(batch_id)
        log.add(version, key)
        self._keep(batch_id, version, key, change, len(log.latest))

    def _keep(
        self, batch_id: str, version: int, key: int, change: SlideChange | None, slides: int
    ) -> None:
        kept = self._kept.get(batch_id)
        if kept is None:
            kept = self._kept[batch_id] = _Kept()
        kept.entries.append((version, key, change))
        if len(kept.entries) > _LOG_SLACK * slides + _LOG_MIN:
            kept.settle(version)  # nobody reads them: the next poll reads from the database

    def batch_changed(
        self, batch_id: str, keys: Iterable[int] | None = None, *, stored: BatchRecord | None = None
    ) -> None:
        """The batch changed: its own fields, and the slides ``keys`` (None: any slide).
        ``stored``: the batch row as this change stored it, when known."""
        version = next(self._counter)
        self._batch[batch_id] = version
        self._fields[batch_id] = version
        if stored is None:
            self._rows.pop(batch_id, None)
        else:
            self._rows[batch_id] = (version, stored)
        if keys is None:
            self._floor[batch_id] = version
            self._slides.pop(batch_id, None)
            self._kept[batch_id] = _Kept(version)
            self._starts.pop(batch_id, None)
            return
        log = self._log(batch_id)
        for key in keys:
            log.add(version, key)
            self._keep(batch_id, version, key, None, len(log.latest))

    def _log(self, batch_id: str) -> _ChangeLog:
        log = self._slides.get(batch_id)
        if log is None:
            log = self._slides[batch_id] = _ChangeLog()
        return log

    def started(self, batch: BatchRecord, slides: Sequence[SlideRecord], *, read_at: int) -> None:
        """The batch started running here, stored as ``batch`` with ``slides`` (every one,
        read when the repository's ``writes_begun`` was ``read_at``)."""
        self.batch_changed(batch.id, (), stored=batch)
        version = self._batch[batch.id]
        self._starts[batch.id] = Start(version, batch, tuple(slides), read_at)

    def start(self, batch_id: str) -> Start | None:
        """The batch as it started here, while no poll has moved past it."""
        return self._starts.get(batch_id)

    def stored_batch(self, batch_id: str) -> BatchRecord | None:
        """The batch row as stored by its latest change of fields, when that change said."""
        found = self._rows.get(batch_id)
        return None if found is None else found[1]

    def forget(self, batch_id: str) -> None:
        """The batch is gone."""
        self.batch_changed(batch_id)  # answers built before this are stale
        self._slides.pop(batch_id, None)
        self._kept.pop(batch_id, None)
        self._rows.pop(batch_id, None)

    def current(self, batch_id: str) -> int:
        """The batch's version now (0: unchanged since this process started)."""
        return self._batch.get(batch_id, 0)

    def cursor(self, batch_id: str, version: int) -> str:
        """``version`` of ``batch_id`` as a client sends it back (``?since=``): the epoch,
        the version and a tag of the batch (``epoch.version.tag``)."""
        return f"{self.epoch}.{version}.{_tag(batch_id)}"

    def since(self, cursor: str | None, batch_id: str) -> int | None:
        """The version a client's cursor for ``batch_id`` names; None (every slide) when it
        is absent or is none this process gave for that batch: from another process or
        before a restart, another batch's, malformed, or past the batch's version now (a
        client holding any of those would miss slides if it were read as a version)."""
        if not cursor:
            return None
        parts = cursor.split(".")
        if len(parts) != 3 or parts[0] != self.epoch or parts[2] != _tag(batch_id):
            return None
        number = parts[1]
        # ASCII digits only: str.isdigit() also passes '①' or '²', which int() refuses.
        if not (number.isascii() and number.isdigit()):
            return None
        version = int(number)
        return version if version <= self.current(batch_id) else None

    def fields_changed_after(self, batch_id: str, version: int) -> bool:
        """Whether the batch's own fields (not its slides) changed after ``version``: a poll
        after slide changes alone needs no new read of the batch."""
        return self._fields.get(batch_id, 0) > version

    def changed_after(self, batch_id: str, version: int) -> frozenset[int] | None:
        """Keys of the slides changed after ``version``; None means all of them may have."""
        if self._floor.get(batch_id, 0) > version:
            return None
        log = self._slides.get(batch_id)
        return frozenset() if log is None else log.after(version)

    def changes_after(
        self, batch_id: str, version: int
    ) -> dict[int, tuple[SlideChange, ...] | None] | None:
        """What each slide changed after ``version`` stored, in order, by key: None for a
        slide with a change stored without it; None for all when they are no longer kept."""
        kept = self._kept.get(batch_id)
        if kept is None:
            return {} if self._floor.get(batch_id, 0) <= version else None
        if kept.floor > version:
            return None
        found: dict[int, tuple[SlideChange, ...] | None] = {}
        start = bisect.bisect_right(kept.entries, version, key=lambda entry: entry[0])
        for _, key, change in kept.entries[start:]:
            known = found.get(key, ())
            found[key] = None if known is None or change is None else (*known, change)
        return found

    def settled(self, batch_id: str, version: int) -> None:
        """The status reader holds the batch at ``version``: older changes need not be kept."""
        kept = self._kept.get(batch_id)
        if kept is not None:
            kept.settle(version)
        start = self._starts.get(batch_id)
        if start is not None and start.version <= version:
            del self._starts[batch_id]

    def ended(self, batch: BatchRecord) -> None:
        """The batch reached a final state, stored as ``batch``; its start is not needed."""
        self.batch_changed(batch.id, (), stored=batch)
        self._starts.pop(batch.id, None)


def _tag(batch_id: str) -> str:
    """A short tag of ``batch_id`` for its cursors (another batch's cursor has another)."""
    return hashlib.blake2s(batch_id.encode(), digest_size=4).hexdigest()
