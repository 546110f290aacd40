"""What one stored write did to a slide, so a record can be brought up to date without a read.

The engine's own slide writes (``BatchRepository.mark_*``) return a ``SlideChange``: the
fields the write set, the spend it added (``paid``, USD: the stored ``spent`` grows by it)
and ``begun``, the repository's count of slide writes when this one began
(``BatchRepository.writes_begun``). Applying a change to the record as it was before the
write gives the record as stored after it (``applied``).

``begun`` tells whether a record read from the database can already hold the change: a read
that ended before the write began cannot (``begun`` greater than the count the read ended
at); one that overlapped it may, and then only a new read knows, because ``paid`` adds up
and must be counted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from slidebatch.core.batch import SlideRecord


@dataclass(frozen=True, slots=True)
class SlideChange:
    """The fields one write set (``SlideRecord`` names), the spend it added, when it began."""

    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    paid: float | None = None  # USD added to ``spent`` (None: nothing)
    begun: int = 0  # ``BatchRepository.writes_begun`` as this write began (1 for the first)

    def applied(self, record: SlideRecord) -> SlideRecord:
        """``record`` as stored after this write, given ``record`` as stored before it."""
        changed = replace(record, **self.fields)
        if self.paid is None:
            return changed
        # As the database adds it (``coalesce(spent, 0) + paid``, double precision).
        return replace(changed, spent=(record.spent or 0.0) + self.paid)


def applied_all(record: SlideRecord, changes: Iterable[SlideChange]) -> SlideRecord:
    """``record`` after each of ``changes``, in order."""
    for change in changes:
        record = change.applied(record)
    return record
