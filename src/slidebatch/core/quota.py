"""Per-key quotas, decided: given what a key has used and what it asks for, admit or refuse.

Pure: the API's ``QuotaGuard`` gathers the usage from storage and calls ``check_quotas``.
A "day" is the server's local calendar day, the same day the pipeline and audit logs use,
so ``Retry-After`` for a day quota points at the next local midnight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TypeVar

from slidebatch.errors import QuotaExceeded

# A running batch usually finishes within minutes; ask the client to look again soon.
CONCURRENT_RETRY_AFTER = 30.0

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Quotas:
    """Per-key bounds; ``None`` means unlimited."""

    max_concurrent_batches: int | None = None
    max_slides_per_day: int | None = None
    max_spend_per_day: float | None = None

    def or_defaults(self, defaults: Quotas) -> Quotas:
        """Each unset bound taken from ``defaults`` (the server's KEY_DEFAULT_* settings)."""
        return Quotas(
            max_concurrent_batches=_first(
                self.max_concurrent_batches, defaults.max_concurrent_batches
            ),
            max_slides_per_day=_first(self.max_slides_per_day, defaults.max_slides_per_day),
            max_spend_per_day=_first(self.max_spend_per_day, defaults.max_spend_per_day),
        )


def _first(value: _T | None, default: _T | None) -> _T | None:
    return value if value is not None else default


@dataclass(frozen=True, slots=True)
class Usage:
    """What one key has in use now and has used today."""

    active_batches: int = 0
    slides_today: int = 0
    spend_today: float = 0.0


def day_start(now: datetime) -> datetime:
    """Midnight that began ``now``'s day, in ``now``'s zone."""
    return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)


def seconds_to_next_day(now: datetime) -> float:
    """Seconds from ``now`` to the next midnight of its zone (at least one)."""
    remaining = (day_start(now) + timedelta(days=1) - now).total_seconds()
    return float(max(1, math.ceil(remaining)))


def check_quotas(quotas: Quotas, usage: Usage, *, slides_requested: int, now: datetime) -> None:
    """Raise ``QuotaExceeded`` (with ``retry_after``) when the request would pass a quota."""
    limit = quotas.max_concurrent_batches
    if limit is not None and usage.active_batches >= limit:
        raise QuotaExceeded(
            f"this key already has {usage.active_batches} batches queued or running; "
            f"its limit is {limit} at once. Wait for one to finish.",
            retry_after=CONCURRENT_RETRY_AFTER,
        )
    limit_slides = quotas.max_slides_per_day
    if limit_slides is not None and usage.slides_today + slides_requested > limit_slides:
        left = max(0, limit_slides - usage.slides_today)
        raise QuotaExceeded(
            f"this key may generate {limit_slides} slides per day; {usage.slides_today} used "
            f"today, {left} left, {slides_requested} requested. The quota resets at midnight "
            "(server time).",
            retry_after=seconds_to_next_day(now),
        )
    limit_spend = quotas.max_spend_per_day
    if limit_spend is not None and usage.spend_today >= limit_spend:
        raise QuotaExceeded(
            f"this key may spend {limit_spend:.2f} USD per day and has spent "
            f"{usage.spend_today:.2f} today. The quota resets at midnight (server time).",
            retry_after=seconds_to_next_day(now),
        )
