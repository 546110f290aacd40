"""QuotaGuard: checks a key's quotas before a batch (or a slide) is admitted.

Gathers the key's usage from storage and lets ``core.quota`` decide. Open mode (no key)
and keys without quotas pass without a query.

A check counts what is stored, so two submits of one key checked at once would both pass
on the same count (five concurrent 2-slide submits of a key allowed 3 slides a day all got
202). ``admitting`` holds a key with quotas from its check until its batch is stored: that
key's submits are checked one after the other, each counting the ones before.

The hold is an ``asyncio.Lock`` per key, which serves one process. API processes of a fleet
share a PostgreSQL database, so there the guard is given a ``KeyHold`` too
(``storage/pg_key_hold.py``: an advisory lock per key), taken inside the local lock: the
key's submits in every process are checked in turn. SQLite has one process, and no
``KeyHold``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

from slidebatch.core.access import Principal
from slidebatch.core.quota import Quotas, Usage, check_quotas, day_start
from slidebatch.observability.daily_file import local_now


class _Caller(Protocol):
    """Anything naming a key: a ``Principal`` (with quotas) or the API's caller value."""

    @property
    def key_id(self) -> str | None: ...


class ActiveCounts(Protocol):
    """``storage.repository.BatchRepository.count_active``."""

    async def count_active(self, owner: str | None = None) -> Mapping[Any, int]: ...


class DailyUsage(Protocol):
    """``storage.keys.UsageRepository``."""

    async def slides_since(self, owner: str, since: datetime) -> int: ...

    async def spend_since(self, owner: str, since: datetime) -> float: ...


class KeyLookup(Protocol):
    """``storage.keys.KeyRepository.get`` (to find the quotas of a caller without them)."""

    async def get(self, key_id: str) -> Any: ...


class KeyHold(Protocol):
    """``async with hold(key_id):`` holds the key against other processes sharing the
    database (``storage.pg_key_hold.PgKeyHold``); entering waits while one of them holds it."""

    def __call__(self, key_id: str) -> AbstractAsyncContextManager[None]: ...


class QuotaGuard:
    """``await guard.check(principal, slides_requested)`` raises ``QuotaExceeded`` or returns."""

    def __init__(
        self,
        batches: ActiveCounts,
        usage: DailyUsage,
        *,
        keys: KeyLookup | None = None,
        defaults: Quotas | None = None,
        now: Callable[[], datetime] = local_now,
        key_hold: KeyHold | None = None,
    ) -> None:
        self._batches = batches
        self._usage = usage
        self._keys = keys
        self._defaults = defaults or Quotas()
        self._now = now
        self._holds: dict[str, asyncio.Lock] = {}  # one per key with quotas (``admitting``)
        self._key_hold = key_hold  # across processes (PostgreSQL); None: this one only

    def today(self) -> datetime:
        """When the current day began (the server's local midnight): day quotas count since."""
        now = self._now()
        return day_start(now if now.tzinfo is not None else now.astimezone())

    async def quotas_of(self, who: _Caller) -> Quotas | None:
        """The quotas that apply to ``who`` (``None``: open mode, nothing applies)."""
        if who.key_id is None:
            return None
        if isinstance(who, Principal):
            return who.quotas.or_defaults(self._defaults)
        if self._keys is None:
            return self._defaults
        key = await self._keys.get(who.key_id)
        quotas: Quotas = key.quotas
        return quotas.or_defaults(self._defaults)

    @asynccontextmanager
    async def admitting(self, principal: _Caller) -> AsyncIterator[None]:
        """Hold ``principal``'s key (when quotas apply to it) for a check and the storing of
        what it admits: the key's next check, in this process or (with a ``KeyHold``) any
        other, waits and counts it. What is stored must be committed before the block ends.

        Raises what the ``KeyHold`` raises while taking it (``StorageUnavailable``)."""
        owner = principal.key_id
        quotas = await self.quotas_of(principal)
        if owner is None or quotas is None or quotas == Quotas():
            yield
            return
        async with self._holds.setdefault(owner, asyncio.Lock()):
            if self._key_hold is None:
                yield
                return
            async with self._key_hold(owner):
                yield

    async def check(self, principal: _Caller, slides_requested: int) -> None:
        """Raise ``QuotaExceeded`` when admitting ``slides_requested`` more would pass a quota."""
        quotas = await self.quotas_of(principal)
        owner = principal.key_id
        if quotas is None or owner is None or quotas == Quotas():
            return
        now = self._now()
        since = day_start(now if now.tzinfo is not None else now.astimezone())
        active = 0
        if quotas.max_concurrent_batches is not None:
            active = sum((await self._batches.count_active(owner)).values())
        slides = 0
        if quotas.max_slides_per_day is not None:
            slides = await self._usage.slides_since(owner, since)
        spend = 0.0
        if quotas.max_spend_per_day is not None:
            spend = await self._usage.spend_since(owner, since)
        check_quotas(
            quotas,
            Usage(active_batches=active, slides_today=slides, spend_today=spend),
            slides_requested=slides_requested,
            now=now if now.tzinfo is not None else now.astimezone(),
        )
