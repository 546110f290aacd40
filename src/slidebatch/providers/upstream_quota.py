"""Quotas that waiting minutes cannot fix, told apart from ordinary rate limits.

A 429 usually means "slow down for a moment". Some answers mean "not today" or "not until
someone pays": OpenAI ``insufficient_quota``, HTTP 402 (no credits), a Gemini ``QuotaFailure``
whose limit is 0 or whose ``quotaId`` is per day, an OpenRouter daily cap. Retrying those
every minute only spends requeues and stalls the shared gate; they become
:class:`~slidebatch.errors.QuotaExhausted` with the time the quota resets (daily quotas at the
provider's midnight: UTC for OpenRouter and OpenAI, Pacific for Gemini).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
_LIMIT_ZERO = re.compile(r"\blimit:?\s*0\b", re.IGNORECASE)
_PER_DAY = re.compile(r"per[-_ ]?day|\bRPD\b|daily", re.IGNORECASE)
_NO_CREDIT_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})


class QuotaKind(StrEnum):
    DAILY = "daily"  # resets at the provider's midnight (or the stated reset)
    NO_CREDITS = "no_credits"  # resets when someone pays: no time known


@dataclass(frozen=True, slots=True)
class QuotaVerdict:
    """Which quota ran out and, when known, the epoch second it resets."""

    kind: QuotaKind
    reset_at: float | None


def next_midnight(now: float, zone: timezone | ZoneInfo) -> float:
    """The epoch second of the next midnight in ``zone`` after ``now``."""
    local = datetime.fromtimestamp(now, zone)
    tomorrow = (local + timedelta(days=1)).date()
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone)
    return midnight.timestamp()


def classify_quota(
    *,
    status: int,
    code: str,
    message: str,
    details: object,
    reset_after: float | None,
    now: float,
    zone: timezone | ZoneInfo = UTC,
) -> QuotaVerdict | None:
    """A verdict when the answer is a quota waiting cannot fix; ``None`` for a plain 429.

    ``reset_after`` is what the upstream said about its reset (seconds from ``now``), used
    for daily caps when given; ``zone`` is the provider's midnight.
    """
    if status == 402 or code.lower() in _NO_CREDIT_CODES:
        return QuotaVerdict(QuotaKind.NO_CREDITS, None)
    if status != 429:
        return None
    violations = _quota_violations(details)
    if any(str(v.get("quotaValue", "")).strip() == "0" for v in violations) or (
        _LIMIT_ZERO.search(message)
    ):
        # A limit of 0: this project or tier has no access at all until billing changes.
        return QuotaVerdict(QuotaKind.NO_CREDITS, None)
    daily_id = any(_PER_DAY.search(str(v.get("quotaId", ""))) for v in violations)
    if daily_id or _PER_DAY.search(message):
        if reset_after is not None and reset_after > 60 and not violations:
            return QuotaVerdict(QuotaKind.DAILY, now + reset_after)
        return QuotaVerdict(QuotaKind.DAILY, next_midnight(now, zone))
    return None


def _quota_violations(details: object) -> list[Mapping[str, object]]:
    if not isinstance(details, list):
        return []
    found: list[Mapping[str, object]] = []
    for detail in details:
        if isinstance(detail, Mapping) and "QuotaFailure" in str(detail.get("@type", "")):
            violations = detail.get("violations")
            if isinstance(violations, list):
                found.extend(v for v in violations if isinstance(v, Mapping))
    return found
