"""KeyRepository: API keys (stored as a SHA-256 of the whole secret) and per-key usage.

A secret is ``sb_<key id>_<43 url-safe characters>``: the id inside lets a lookup go by
primary key and then compare hashes in constant time. Only the hash is stored; the secret
is shown once, when the key is created.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Row, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from slidebatch.core.access import ApiKey, Role
from slidebatch.core.quota import Quotas
from slidebatch.errors import InputError, NotFound
from slidebatch.storage.errors import translated
from slidebatch.storage.membership import one_of
from slidebatch.storage.tables import ApiKeyRow, BatchRow, SlidePaymentRow, SlideRow

if TYPE_CHECKING:
    from slidebatch.storage.database import Database

Writing = Callable[[], AbstractAsyncContextManager[AsyncConnection]]

_KEYS = cast(Table, ApiKeyRow.__table__)
_BATCHES = cast(Table, BatchRow.__table__)
_SLIDES = cast(Table, SlideRow.__table__)
_PAYMENTS = cast(Table, SlidePaymentRow.__table__)
_SECRET = re.compile(r"^sb_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")
MAX_NAME_CHARS = 255


def generate_key() -> tuple[str, str]:
    """A fresh ``(key_id, secret)``; the secret is ``sb_<key_id>_<token_urlsafe(32)>``."""
    key_id = secrets.token_hex(6)
    return key_id, f"sb_{key_id}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    """The stored form of a secret: SHA-256 hex of the whole string.

    A plain hash (no salt, no stretching) is enough: the secret has 256 random bits, so
    there is nothing to brute-force, and lookups stay cheap on every request.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_id_of(secret: str) -> str | None:
    """The key id embedded in a well-formed secret, else ``None``."""
    match = _SECRET.match(secret)
    return match.group(1) if match else None


# How long a measured mean image price is reused before it is asked again (seconds).
MEAN_COST_MAX_AGE = 2.0
# How long "no API key exists" is believed before the table is asked again (seconds).
NO_KEYS_RECHECK_SECONDS = 1.0
# Once "no API key exists" is this old, it is asked again in the background (seconds).
NO_KEYS_REFRESH_SECONDS = NO_KEYS_RECHECK_SECONDS / 2


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KeyRepository:
    """The ``api_keys`` table, as ``ApiKey`` values."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        writing: Writing,
        now: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._writing = writing
        self._now = now
        self._monotonic = monotonic
        # Keys are revoked, never deleted: once one exists, open mode is over for good.
        self._known_to_exist = False
        self._none_seen_at: float | None = None  # monotonic time of the last "no keys"
        self._asking: asyncio.Future[bool] | None = None

    @classmethod
    def on(cls, database: Database, *, now: Callable[[], datetime] = _utc_now) -> KeyRepository:
        """A repository on an open ``storage.database.Database`` (shares its write lock)."""
        return cls(database.read_engine, writing=database.writing, now=now)

    @asynccontextmanager
    async def _read(self, action: str) -> AsyncIterator[AsyncConnection]:
        with translated(action):
            async with self._engine.connect() as connection:
                yield connection

    async def create(
        self, *, name: str, role: Role = Role.USER, quotas: Quotas | None = None
    ) -> tuple[ApiKey, str]:
        """Store a new key; return it and its secret (the only time the secret exists)."""
        name = name.strip()
        if not name or len(name) > MAX_NAME_CHARS:
            raise InputError(f"a key name has 1 to {MAX_NAME_CHARS} characters")
        quotas = quotas or Quotas()
        key_id, secret = generate_key()
        key = ApiKey(id=key_id, name=name, role=role, created_at=self._now(), quotas=quotas)
        values = {
            "id": key.id,
            "name": key.name,
            "key_hash": hash_secret(secret),
            "role": str(key.role),
            "created_at": key.created_at,
            "revoked_at": None,
            "max_concurrent_batches": quotas.max_concurrent_batches,
            "max_slides_per_day": quotas.max_slides_per_day,
            "max_spend_per_day": quotas.max_spend_per_day,
        }
        with translated("create API key"):
            async with self._writing() as connection:
                await connection.execute(insert(_KEYS).values(**values))
        self._known_to_exist = True
        return key, secret

    async def get(self, key_id: str) -> ApiKey:
        """The key ``key_id`` (revoked or not); ``NotFound`` when there is none."""
        async with self._read("read API key") as connection:
            row = (await connection.execute(select(_KEYS).where(_KEYS.c.id == key_id))).first()
        if row is None:
            raise NotFound(f"no API key {key_id!r}")
        return _key(row)

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose secret hashes to ``key_hash``, or ``None``."""
        query = select(_KEYS).where(_KEYS.c.key_hash == key_hash)
        async with self._read("read API key") as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _key(row)

    async def verify(self, secret: str) -> ApiKey | None:
        """The key ``secret`` belongs to (revoked or not), or ``None`` for a wrong secret."""
        key_id = key_id_of(secret)
        if key_id is None:
            return None
        query = select(_KEYS).where(_KEYS.c.id == key_id)
        async with self._read("verify API key") as connection:
            row = (await connection.execute(query)).first()
        if row is None or not hmac.compare_digest(row.key_hash, hash_secret(secret)):
            return None
        return _key(row)

    async def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, oldest first."""
        query = select(_KEYS).order_by(_KEYS.c.created_at, _KEYS.c.id)
        if not include_revoked:
            query = query.where(_KEYS.c.revoked_at.is_(None))
        async with self._read("list API keys") as connection:
            return [_key(row) for row in (await connection.execute(query)).all()]

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke ``key_id`` (again is a no-op); ``NotFound`` when there is none."""
        statement = (
            update(_KEYS)
            .where(_KEYS.c.id == key_id, _KEYS.c.revoked_at.is_(None))
            .values(revoked_at=self._now())
        )
        with translated("revoke API key"):
            async with self._writing() as connection:
                await connection.execute(statement)
        return await self.get(key_id)

    async def any_exist(self) -> bool:
        """True when at least one key (even a revoked one) was ever created.

        Open mode asks this on every request; "no keys" is remembered for
        ``NO_KEYS_RECHECK_SECONDS``, so a key another process (the ``keys`` command, another
        server on the same PostgreSQL) creates closes open mode here within that time. A key
        created through this repository closes it at once. Past ``NO_KEYS_REFRESH_SECONDS``
        the table is asked again in the background, so under steady traffic no request
        waits for that question (every request arriving during it did: a status poll in
        ten under bench --load); the answer believed is never older than before.
        """
        if self._known_to_exist:
            return True
        seen = self._none_seen_at
        age = None if seen is None else self._monotonic() - seen
        if age is not None and age < NO_KEYS_RECHECK_SECONDS:
            if age >= NO_KEYS_REFRESH_SECONDS:
                self._ask_once()
            return False
        return await asyncio.shield(self._ask_once())

    def _ask_once(self) -> asyncio.Future[bool]:
        """The question being asked, or a new one: requests meanwhile share its answer."""
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(self._ask_any_exist())
            self._asking.add_done_callback(_heard)
        return self._asking

    async def _ask_any_exist(self) -> bool:
        async with self._read("count API keys") as connection:
            query = select(_KEYS.c.id).limit(1)
            found = (await connection.execute(query)).first() is not None
        self._known_to_exist = self._known_to_exist or found
        self._none_seen_at = None if self._known_to_exist else self._monotonic()
        return self._known_to_exist


class UsageRepository:
    """What a key has used: the figures its day quotas are checked against."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    def on(cls, database: Database) -> UsageRepository:
        """A usage reader on an open ``storage.database.Database``."""
        return cls(database.read_engine)

    async def slides_since(self, owner: str, since: datetime) -> int:
        """Slides in ``owner``'s batches created at or after ``since``."""
        query = select(func.coalesce(func.sum(_BATCHES.c.total_slides), 0)).where(
            _BATCHES.c.owner == owner, _BATCHES.c.created_at >= since
        )
        with translated("count slides used"):
            async with self._engine.connect() as connection:
                return int((await connection.execute(query)).scalar() or 0)

    async def spend_since(self, owner: str, since: datetime) -> float:
        """Cost (USD) of the images of ``owner``'s batches paid at or after ``since``: each
        paid image counts on the day it was paid (replaced ones and candidates too), not on
        the day its slide last changed."""
        query = (
            select(func.coalesce(func.sum(_PAYMENTS.c.cost), 0.0))
            .select_from(_PAYMENTS.join(_BATCHES, _PAYMENTS.c.batch_id == _BATCHES.c.id))
            .where(_BATCHES.c.owner == owner, _PAYMENTS.c.paid_at >= since)
        )
        with translated("sum spend"):
            async with self._engine.connect() as connection:
                return float((await connection.execute(query)).scalar() or 0.0)

    async def batch_costs(self, batch_ids: list[str]) -> dict[str, float]:
        """Reported cost (USD, every paid image) per batch, for those among ``batch_ids``
        that have one."""
        if not batch_ids:
            return {}
        postgres = self._engine.dialect.name == "postgresql"
        query = (
            select(_SLIDES.c.batch_id, func.sum(_SLIDES.c.spent))
            .where(
                one_of(_SLIDES.c.batch_id, batch_ids, postgres=postgres),
                _SLIDES.c.spent.is_not(None),
            )
            .group_by(_SLIDES.c.batch_id)
        )
        with translated("sum batch costs"):
            async with self._engine.connect() as connection:
                rows = (await connection.execute(query)).all()
        return {batch_id: round(float(total), 6) for batch_id, total in rows}

    async def mean_cost(self, *, last: int = 50) -> float | None:
        """The mean reported cost of the ``last`` images that reported one (any owner)."""
        # A slide with a cost has a spend (the cost is added to it in the same write), so
        # ``spent IS NOT NULL`` changes nothing but lets ix_slides_spent_finished give the
        # newest ones in order: no sort of every priced slide.
        recent = (
            select(_SLIDES.c.cost)
            # An estimate is our own guess at the price, and a free image (the offline
            # renderer, 0) says nothing about what a paid model costs: neither measures.
            .where(
                _SLIDES.c.spent.is_not(None),
                _SLIDES.c.cost > 0,
                _SLIDES.c.cost_estimated.is_(False),
            )
            .order_by(_SLIDES.c.finished_at.desc())
            .limit(last)
            .subquery()
        )
        query = select(func.avg(recent.c.cost))
        with translated("mean cost"):
            async with self._engine.connect() as connection:
                value = (await connection.execute(query)).scalar()
        return None if value is None else round(float(value), 6)


class RecentMeanCost:
    """``UsageRepository.mean_cost``, asked again at most every ``MEAN_COST_MAX_AGE`` seconds.

    Every status answer carries a cost estimate, and the mean is a sort over the slides with
    a cost: under 40 polls per second that query was a tenth of the event loop's time
    (``slidebatch bench --load``). A price that is two seconds old is as good an estimate.
    Once a price is known, no poll waits for the query either: an old one is answered while
    the next is asked in the background (the poll that came as it aged waited for a query
    behind the slide writes: a status p99 of 110 ms against 0.05 ms otherwise). A question
    that fails leaves the last price in place, and the next poll asks again.
    """

    def __init__(self, usage: UsageRepository, monotonic: Callable[[], float]) -> None:
        self._usage = usage
        self._monotonic = monotonic
        self._known: tuple[float, float | None] | None = None  # (asked at, answer)
        self._asking: asyncio.Future[float | None] | None = None

    async def value(self) -> float | None:
        """The mean reported cost of the last images (None: none reported one); once a price
        was known, at once (an old price while a new one is asked). An old "none reported"
        is asked again and waited for: answered at once, the first poll after a quiet spell
        showed no estimate although the batch it watched had reported prices."""
        known = self._known
        if known is not None and self._monotonic() - known[0] < MEAN_COST_MAX_AGE:
            return known[1]
        # One question at a time: the polls arriving meanwhile share its answer.
        if self._asking is None or self._asking.done():
            self._asking = asyncio.ensure_future(self._ask())
            self._asking.add_done_callback(_heard)
        if known is not None and known[1] is not None:
            return known[1]
        return await asyncio.shield(self._asking)

    async def settled(self) -> None:
        """Return once the question being asked, if any, has its answer (or failed)."""
        if self._asking is not None:
            await asyncio.wait([self._asking])

    async def fresh(self) -> float | None:
        """The mean asked now (and remembered for the next ``value``)."""
        return await self._ask()

    async def _ask(self) -> float | None:
        asked_at = self._monotonic()
        value = await self._usage.mean_cost()
        self._known = (asked_at, value)
        return value


def _heard(asking: asyncio.Future[Any]) -> None:
    """A question asked in the background failed or not: its error is taken here (the last
    answer stays, the next request asks again) so that it is never reported as unretrieved."""
    if not asking.cancelled():
        asking.exception()


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        quotas=Quotas(
            max_concurrent_batches=row.max_concurrent_batches,
            max_slides_per_day=row.max_slides_per_day,
            max_spend_per_day=row.max_spend_per_day,
        ),
    )
