from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from slidebatch.core.access import ApiKey, Principal, Role
from slidebatch.core.quota import Quotas, Usage, check_quotas, seconds_to_next_day
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.errors import QuotaExceeded
from slidebatch.security.quota_guard import QuotaGuard
from slidebatch.storage.database import Database
from slidebatch.storage.keys import KeyRepository, UsageRepository

CST = timezone(timedelta(hours=8))
NOON = datetime(2026, 11, 3, 12, 0, tzinfo=CST)


class FakeBatches:
    def __init__(self, active: int) -> None:
        self.active = active
        self.asked: list[str | None] = []

    async def count_active(self, owner: str | None = None) -> Mapping[str, int]:
        self.asked.append(owner)
        return {"queued": self.active // 2, "running": self.active - self.active // 2}


class FakeUsage:
    def __init__(self, slides: int = 0, spend: float = 0.0) -> None:
        self.slides = slides
        self.spend = spend
        self.since: list[datetime] = []

    async def slides_since(self, owner: str, since: datetime) -> int:
        self.since.append(since)
        return self.slides

    async def spend_since(self, owner: str, since: datetime) -> float:
        return self.spend


def deck(count: int) -> BatchRequest:
    slides = tuple(Slide(f"s{i}", i + 1, SlideType.CONTENT, f"t{i}") for i in range(count))
    return BatchRequest(slides=slides, style_prompt="flat")


@dataclass(frozen=True)
class Caller:
    """The API's caller value: a key id and nothing else."""

    key_id: str | None


def _user(quotas: Quotas) -> Principal:
    return Principal(key_id="k1", name="alice", role=Role.USER, quotas=quotas)


async def test_concurrent_batches_quota() -> None:
    """At its concurrent-batch limit a key gets QuotaExceeded with a short Retry-After."""
    guard = QuotaGuard(FakeBatches(active=2), FakeUsage(), now=lambda: NOON)
    with pytest.raises(QuotaExceeded, match="2 batches queued or running") as caught:
        await guard.check(_user(Quotas(max_concurrent_batches=2)), 1)
    assert 0 < caught.value.retry_after <= 60
    await QuotaGuard(FakeBatches(active=1), FakeUsage(), now=lambda: NOON).check(
        _user(Quotas(max_concurrent_batches=2)), 1
    )


async def test_slides_per_day_quota_retries_after_midnight() -> None:
    """Going past the day's slides is refused until local midnight (12 hours after noon)."""
    usage = FakeUsage(slides=95)
    guard = QuotaGuard(FakeBatches(0), usage, now=lambda: NOON)
    await guard.check(_user(Quotas(max_slides_per_day=100)), 5)
    with pytest.raises(QuotaExceeded, match="100 slides per day; 95 used today, 5 left") as caught:
        await guard.check(_user(Quotas(max_slides_per_day=100)), 6)
    assert caught.value.retry_after == 12 * 3600
    assert usage.since[-1] == datetime(2026, 11, 3, tzinfo=CST)


async def test_spend_per_day_quota() -> None:
    """A key that has spent its day's budget is refused, naming both amounts."""
    guard = QuotaGuard(FakeBatches(0), FakeUsage(spend=5.01), now=lambda: NOON)
    with pytest.raises(QuotaExceeded, match=r"spend 5.00 USD per day and has spent 5.01"):
        await guard.check(_user(Quotas(max_spend_per_day=5.0)), 1)


async def test_open_mode_and_unlimited_keys_skip_the_queries() -> None:
    """No key (open mode) or a key without quotas is admitted without touching storage."""
    batches = FakeBatches(active=100)
    guard = QuotaGuard(batches, FakeUsage(slides=10**6), now=lambda: NOON)
    await guard.check(Principal.anonymous(), 10**6)
    await guard.check(_user(Quotas()), 10**6)
    assert batches.asked == []


async def test_a_caller_without_quotas_gets_its_keys_quotas() -> None:
    """Given only a key id, the guard looks the key up and applies its quotas and the defaults."""

    class Keys:
        async def get(self, key_id: str) -> ApiKey:
            return ApiKey(id=key_id, name="n", role=Role.USER, created_at=NOON)

    guard = QuotaGuard(
        FakeBatches(active=3), FakeUsage(), keys=Keys(), defaults=Quotas(3), now=lambda: NOON
    )
    with pytest.raises(QuotaExceeded):
        await guard.check(Caller("k1"), 1)
    await guard.check(Caller(None), 1)


def test_seconds_to_next_day() -> None:
    """One second before midnight leaves one second; midnight itself leaves a whole day."""
    assert seconds_to_next_day(datetime(2026, 11, 3, 23, 59, 59, tzinfo=CST)) == 1
    assert seconds_to_next_day(datetime(2026, 11, 3, tzinfo=CST)) == 86400


def test_check_quotas_checks_in_order() -> None:
    """With every quota exceeded, the concurrent one is reported first."""
    with pytest.raises(QuotaExceeded, match="at once"):
        check_quotas(Quotas(1, 1, 1.0), Usage(5, 5, 5.0), slides_requested=1, now=NOON)


async def test_the_guard_on_real_storage(tmp_path: Path) -> None:
    """On SQLite, a key's stored batches count against its concurrent and daily quotas."""
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        keys = KeyRepository.on(db)
        key, _ = await keys.create(name="alice", quotas=Quotas(max_slides_per_day=5))
        await db.batches.create_batch(
            request=deck(3),
            final_prompts=["p"] * 3,
            effective_workers=1,
            owner=key.id,
            idempotency_key=None,
        )
        now = datetime.now(UTC)
        guard = QuotaGuard(
            db.batches, UsageRepository.on(db), keys=keys, defaults=Quotas(1), now=lambda: now
        )
        with pytest.raises(QuotaExceeded, match="at once"):
            await guard.check(Caller(key.id), 1)
        guard = QuotaGuard(db.batches, UsageRepository.on(db), keys=keys, now=lambda: now)
        await guard.check(Caller(key.id), 2)
        with pytest.raises(QuotaExceeded, match="5 slides per day"):
            await guard.check(Caller(key.id), 3)
    finally:
        await db.close()


async def test_the_spend_quota_counts_the_images_paid_today_across_midnight(
    tmp_path: Path,
) -> None:
    """Spend cap 1.0 a day: an image of 1.0 paid at 23:58 fills the day; its slide redrawn at
    00:01 for 0.3 starts a new day of 0.3, which admits more (before, the new day counted the
    slide's whole spend, 1.3, because its last image ended that day)."""
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        keys = KeyRepository.on(db)
        key, _ = await keys.create(name="alice", quotas=Quotas(max_spend_per_day=1.0))
        batch, _ = await db.batches.create_batch(
            request=deck(1),
            final_prompts=["p"],
            effective_workers=1,
            owner=key.id,
            idempotency_key=None,
        )
        midnight = datetime(2026, 11, 4, tzinfo=CST)
        clock = [midnight - timedelta(minutes=2)]
        guard = QuotaGuard(db.batches, UsageRepository.on(db), keys=keys, now=lambda: clock[0])

        async def paid(cost: float) -> None:
            await db.batches.mark_done(
                batch.id,
                0,
                image_file="a.png",
                generation_time=1.0,
                cost=cost,
                placeholder=False,
                at=clock[0].astimezone(UTC),
            )

        await paid(1.0)
        clock[0] = midnight - timedelta(minutes=1)
        with pytest.raises(QuotaExceeded, match="spend"):
            await guard.check(Caller(key.id), 1)
        clock[0] = midnight + timedelta(minutes=1)
        await paid(0.3)
        clock[0] = midnight + timedelta(minutes=2)
        assert guard.today() == midnight
        assert await UsageRepository.on(db).spend_since(key.id, guard.today()) == 0.3
        await guard.check(Caller(key.id), 1)
    finally:
        await db.close()
