from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, text
from storage_helpers import deck

from slidebatch.core.access import Role
from slidebatch.core.quota import Quotas
from slidebatch.errors import InputError, NotFound
from slidebatch.storage.database import Database
from slidebatch.storage.keys import (
    MEAN_COST_MAX_AGE,
    NO_KEYS_RECHECK_SECONDS,
    NO_KEYS_REFRESH_SECONDS,
    KeyRepository,
    RecentMeanCost,
    UsageRepository,
    generate_key,
    hash_secret,
    key_id_of,
)


def test_a_generated_secret_has_the_documented_shape() -> None:
    """generate_key gives sb_<id>_<token_urlsafe(32)>, with the id recoverable from the secret."""
    key_id, secret = generate_key()
    assert re.fullmatch(r"sb_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", secret)
    assert key_id_of(secret) == key_id
    assert generate_key() != generate_key()


async def test_only_the_hash_is_stored(db: Database) -> None:
    """The api_keys table holds the SHA-256 of the secret and never the secret itself."""
    keys = KeyRepository.on(db)
    key, secret = await keys.create(name="ci", role=Role.ADMIN)
    async with db.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT * FROM api_keys"))).all()
    assert len(rows) == 1
    assert secret not in repr(rows)
    assert rows[0].key_hash == hash_secret(secret)
    assert await keys.get_by_hash(hash_secret(secret)) == key


async def test_verify_accepts_the_secret_and_nothing_else(db: Database) -> None:
    """verify finds the key for its secret; a changed, malformed or unknown secret gets None."""
    keys = KeyRepository.on(db)
    key, secret = await keys.create(name="alice", quotas=Quotas(max_concurrent_batches=2))
    assert await keys.verify(secret) == key
    assert key.quotas.max_concurrent_batches == 2
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert await keys.verify(tampered) is None
    assert await keys.verify("not-a-key") is None
    assert await keys.verify(generate_key()[1]) is None


async def test_revoke_marks_the_key_and_keeps_it_listed(db: Database) -> None:
    """A revoked key still verifies as itself but says revoked; list can hide it."""
    keys = KeyRepository.on(db)
    key, secret = await keys.create(name="bob")
    other, _ = await keys.create(name="carol")
    revoked = await keys.revoke(key.id)
    assert revoked.revoked
    again = await keys.revoke(key.id)
    assert again.revoked_at == revoked.revoked_at
    verified = await keys.verify(secret)
    assert verified is not None
    assert verified.revoked
    assert [k.id for k in await keys.list()] == [key.id, other.id]
    assert [k.id for k in await keys.list(include_revoked=False)] == [other.id]


async def test_unknown_keys_and_bad_names_are_refused(db: Database) -> None:
    """Revoking or reading an unknown key is NotFound; an empty name is an InputError."""
    keys = KeyRepository.on(db)
    with pytest.raises(NotFound):
        await keys.revoke("000000000000")
    with pytest.raises(NotFound):
        await keys.get("000000000000")
    with pytest.raises(InputError):
        await keys.create(name="  ")


async def test_any_exist_turns_true_with_the_first_key(db: Database) -> None:
    """any_exist is False on a fresh database and True once a key was created, even revoked."""
    keys = KeyRepository.on(db)
    assert not await keys.any_exist()
    key, _ = await keys.create(name="first")
    await keys.revoke(key.id)
    assert await KeyRepository.on(db).any_exist()


async def test_usage_counts_slides_and_spend_of_one_owner(db: Database) -> None:
    """slides_since sums the owner's requested slides; spend_since sums their reported costs."""
    usage = UsageRepository.on(db)
    mine, _ = await db.batches.create_batch(
        request=deck(3),
        final_prompts=["p"] * 3,
        effective_workers=2,
        owner="k1",
        idempotency_key=None,
    )
    await db.batches.create_batch(
        request=deck(5),
        final_prompts=["p"] * 5,
        effective_workers=2,
        owner="k2",
        idempotency_key=None,
    )
    done_at = mine.created_at + timedelta(seconds=30)
    for key, cost in ((0, 0.12), (1, 0.13)):
        await db.batches.mark_done(
            mine.id,
            key,
            image_file=f"{key}.png",
            generation_time=1.0,
            cost=cost,
            placeholder=False,
            at=done_at,
        )
    before = mine.created_at - timedelta(hours=1)
    assert await usage.slides_since("k1", before) == 3
    assert await usage.slides_since("k2", before) == 5
    assert await usage.slides_since("k1", mine.created_at + timedelta(seconds=1)) == 0
    assert await usage.spend_since("k1", before) == pytest.approx(0.25)
    assert await usage.spend_since("k2", before) == 0.0
    assert await usage.spend_since("k1", done_at + timedelta(seconds=1)) == 0.0
    assert await usage.slides_since("nobody", datetime(2000, 1, 1, tzinfo=UTC)) == 0


async def test_no_keys_is_remembered_briefly_and_rechecked(db: Database) -> None:
    """Open mode asks the table once per recheck time; a key made elsewhere is seen then."""
    clock = [100.0]
    queries: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        queries.append(statement)

    keys = KeyRepository(db.engine, writing=db.writing, monotonic=lambda: clock[0])
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await asyncio.gather(*(keys.any_exist() for _ in range(10))) == [False] * 10
        assert not await keys.any_exist()
        assert len(queries) == 1  # concurrent requests shared one question
        await KeyRepository.on(db).create(name="elsewhere")  # as another process would
        queries.clear()
        assert not await keys.any_exist()  # still believed for the recheck time
        assert queries == []
        clock[0] += NO_KEYS_RECHECK_SECONDS
        assert await keys.any_exist()
        assert await keys.any_exist()
        assert len(queries) == 1  # once a key exists, never asked again
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_no_keys_is_asked_again_ahead_of_its_expiry(db: Database) -> None:
    """Past the refresh age, a request is answered at once while the table is asked in the
    background: a key made elsewhere is then seen without any request having waited."""
    clock = [100.0]
    keys = KeyRepository(db.engine, writing=db.writing, monotonic=lambda: clock[0])
    assert not await keys.any_exist()
    await KeyRepository.on(db).create(name="elsewhere")  # as another process would
    clock[0] += NO_KEYS_REFRESH_SECONDS
    assert not await keys.any_exist()  # believed still: answered at once, asked anew
    assert keys._asking is not None  # the question in the background is the claim
    await keys._asking
    assert await keys.any_exist()


async def test_recent_mean_cost_is_asked_again_only_when_old(db: Database) -> None:
    """The mean price is one query per MEAN_COST_MAX_AGE, then sees the newer costs."""
    clock = [50.0]
    batch, _ = await db.batches.create_batch(
        request=deck(2),
        final_prompts=["p"] * 2,
        effective_workers=2,
        owner=None,
        idempotency_key=None,
    )

    async def done(key: int, cost: float) -> None:
        await db.batches.mark_done(
            batch.id,
            key,
            image_file=f"{key}.png",
            generation_time=1.0,
            cost=cost,
            placeholder=False,
            at=batch.created_at + timedelta(seconds=key + 1),
        )

    await done(0, 0.10)
    mean = RecentMeanCost(UsageRepository.on(db), lambda: clock[0])
    queries: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        queries.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await asyncio.gather(*(mean.value() for _ in range(5))) == [pytest.approx(0.1)] * 5
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(queries) == 1
    await done(1, 0.30)
    clock[0] += MEAN_COST_MAX_AGE / 2
    assert await mean.value() == pytest.approx(0.10)  # the answer still fresh enough
    assert await mean.fresh() == pytest.approx(0.20)  # asked now (the cost estimate's callers)
    await done(1, 0.50)
    clock[0] += MEAN_COST_MAX_AGE / 2
    assert await mean.value() == pytest.approx(0.20)  # fresh() was asked half an age ago
    clock[0] += MEAN_COST_MAX_AGE / 2
    assert await mean.value() == pytest.approx(0.20)  # old: answered at once, asked anew
    await mean.settled()
    assert await mean.value() == pytest.approx(0.30)


class _Prices:
    """A ``UsageRepository`` stand-in whose ``mean_cost`` answers when the test says."""

    def __init__(self) -> None:
        self.asked: list[asyncio.Future[float | None]] = []

    async def mean_cost(self) -> float | None:
        self.asked.append(asyncio.get_running_loop().create_future())
        return await self.asked[-1]

    async def question(self, number: int) -> asyncio.Future[float | None]:
        """The ``number``-th question (1-based), once it was asked (a few turns of the loop)."""
        for _ in range(10):
            if len(self.asked) >= number:
                return self.asked[number - 1]
            await asyncio.sleep(0)
        raise AssertionError(f"question {number} was never asked")


async def test_an_old_mean_cost_is_answered_at_once_while_a_new_one_is_asked() -> None:
    """Only the first question is waited for; later a poll gets the last price at once while
    one question runs in the background, and a failed one leaves the last price."""
    clock = [0.0]
    prices = _Prices()
    mean = RecentMeanCost(prices, lambda: clock[0])  # type: ignore[arg-type]
    first = asyncio.ensure_future(mean.value())
    (await prices.question(1)).set_result(0.1)
    assert await first == pytest.approx(0.1)
    clock[0] += MEAN_COST_MAX_AGE
    assert [await mean.value(), await mean.value()] == [pytest.approx(0.1)] * 2
    (await prices.question(2)).set_exception(RuntimeError("database is gone"))
    await mean.settled()
    assert len(prices.asked) == 2  # one question for both polls
    assert await mean.value() == pytest.approx(0.1)  # the last price; asked again
    (await prices.question(3)).set_result(0.3)
    await mean.settled()
    assert await mean.value() == pytest.approx(0.3)


async def test_an_old_none_is_asked_again_and_waited_for() -> None:
    """An old "no price reported" is not answered at once: the poll after a quiet spell
    waits for the question, so it shows the price images reported meanwhile."""
    clock = [0.0]
    prices = _Prices()
    mean = RecentMeanCost(prices, lambda: clock[0])  # type: ignore[arg-type]
    first = asyncio.ensure_future(mean.value())
    (await prices.question(1)).set_result(None)
    assert await first is None
    clock[0] += MEAN_COST_MAX_AGE
    later = asyncio.ensure_future(mean.value())
    (await prices.question(2)).set_result(0.25)
    assert await later == pytest.approx(0.25)


async def test_spend_counts_every_paid_image_of_a_slide_once(db: Database) -> None:
    """A slide done twice (a regenerate) spent both images; a write sharing its commit with
    one for a missing slide is still added once (the group is not re-run)."""
    usage = UsageRepository.on(db)
    mine, _ = await db.batches.create_batch(
        request=deck(2),
        final_prompts=["p"] * 2,
        effective_workers=2,
        owner="k1",
        idempotency_key=None,
    )
    at = mine.created_at + timedelta(seconds=30)

    async def done(key: int, cost: float | None) -> None:
        await db.batches.mark_done(
            mine.id,
            key,
            image_file=f"{key}.png",
            generation_time=1.0,
            cost=cost,
            placeholder=False,
            at=at,
        )

    await done(0, 0.12)
    await done(0, 0.2)
    await done(0, None)  # an image that reported no cost adds nothing
    outcomes = await asyncio.gather(done(1, 0.05), done(99, 0.05), return_exceptions=True)
    assert outcomes[0] is None
    assert isinstance(outcomes[1], NotFound)
    slide = await db.batches.get_slide(mine.id, 0)
    assert (slide.cost, slide.spent) == (None, pytest.approx(0.32))
    assert await usage.spend_since("k1", mine.created_at) == pytest.approx(0.37)
    assert await usage.batch_costs([mine.id]) == {mine.id: pytest.approx(0.37)}


async def test_daily_spend_counts_each_image_on_the_day_it_was_paid(db: Database) -> None:
    """A slide paid at 23:59 and regenerated at 00:01: the new day's spend is the second
    image only, the day before keeps the first (before: both counted on the new day, the
    slide's sum at its last finish); the clock is the ``at`` the engine's wall gives."""
    usage = UsageRepository.on(db)
    batch, _ = await db.batches.create_batch(
        request=deck(1), final_prompts=["p"], effective_workers=1, owner="k1", idempotency_key=None
    )
    zone = timezone(timedelta(hours=2))  # a server whose local day is not UTC's
    midnight = datetime(2026, 12, 1, tzinfo=zone)
    for at, cost in (
        (midnight - timedelta(minutes=1), 0.25),
        (midnight + timedelta(minutes=1), 0.5),
    ):
        await db.batches.mark_done(
            batch.id,
            0,
            image_file="a.png",
            generation_time=1.0,
            cost=cost,
            placeholder=False,
            at=at.astimezone(UTC),
        )
    assert await usage.spend_since("k1", midnight) == pytest.approx(0.5)
    assert await usage.spend_since("k1", midnight - timedelta(days=1)) == pytest.approx(0.75)
    assert await usage.spend_since("k1", midnight + timedelta(minutes=2)) == 0.0
    assert await usage.spend_since("someone-else", midnight - timedelta(days=1)) == 0.0


async def test_the_measured_price_ignores_free_and_estimated_images(db: Database) -> None:
    """Images of the offline renderer (cost 0) and estimated costs measure nothing: the mean
    is of the provider's own figures only (None when there are none)."""
    usage = UsageRepository.on(db)
    batch, _ = await db.batches.create_batch(
        request=deck(3),
        final_prompts=["p"] * 3,
        effective_workers=3,
        owner=None,
        idempotency_key=None,
    )
    for key, cost, estimated in ((0, 0.0, False), (1, 0.5, True)):
        await db.batches.mark_done(
            batch.id,
            key,
            image_file=f"{key}.png",
            generation_time=1.0,
            cost=cost,
            placeholder=False,
            at=batch.created_at,
            estimated=estimated,
        )
    assert await usage.mean_cost() is None
    await db.batches.mark_done(
        batch.id,
        2,
        image_file="2.png",
        generation_time=1.0,
        cost=0.134,
        placeholder=False,
        at=batch.created_at,
    )
    assert await usage.mean_cost() == pytest.approx(0.134)
