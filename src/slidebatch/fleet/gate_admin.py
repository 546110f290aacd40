"""What an operator does to a fleet gate by hand: see its holds, clear them.

A fleet's gate keeps its holds in ``gate_scopes`` (``fleet/pg_gate.py``): a park (a spent
quota, no credits: a 402 parks the scope for ``UPSTREAM_NO_CREDIT_RECHECK_SECONDS``), a
pause (``Retry-After``) and a block. They outlive every process on purpose, so a restart
does not hammer an upstream that said no. Once the operator has fixed the cause (credits
bought, the key's quota raised), ``slidebatch gate clear`` lifts them: the scope's holds
are reset under its row lock (what was learned, the window and the leases stay), the
slides of running batches that were waiting to be retried become claimable at once, and
every worker is woken (``pg_notify``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from slidebatch.fleet.gate_state import StateMismatch, decode, encode
from slidebatch.fleet.store import WORK_CHANNEL
from slidebatch.storage import gate_rows
from slidebatch.storage.errors import translated


@dataclass(frozen=True, slots=True)
class ScopeHolds:
    """A scope's holds, in seconds from now (None: not held)."""

    scope: str
    parked_for: float | None
    park_reason: str | None
    paused_for: float | None
    blocked_for: float | None

    @property
    def held(self) -> bool:
        return self.parked_for is not None or self.paused_for is not None


@dataclass(frozen=True, slots=True)
class Cleared:
    """What ``clear_holds`` lifted: the scopes' holds before, and the slides released."""

    scopes: tuple[ScopeHolds, ...]
    slides: int


async def list_holds(engine: AsyncEngine) -> list[ScopeHolds]:
    """Every scope of the fleet gate with its holds as of now (the database's clock)."""
    with translated("read the fleet gate"):
        async with engine.connect() as connection:
            now = await gate_rows.database_now(connection)
            rows = (
                await connection.execute(text("SELECT scope, state FROM gate_scopes ORDER BY 1"))
            ).all()
    return [_holds(str(r.scope), str(r.state), now) for r in rows]


async def clear_holds(engine: AsyncEngine, scope: str | None = None) -> Cleared:
    """Lift the park, pause and block of ``scope`` (every scope when None); release the
    backing-off slides of running batches and wake every worker."""
    cleared: list[ScopeHolds] = []
    with translated("clear the fleet gate"):
        async with engine.begin() as connection:
            now = await gate_rows.database_now(connection)
            which = "" if scope is None else " WHERE scope = :s"
            query = f"SELECT scope, state FROM gate_scopes{which} ORDER BY scope FOR UPDATE"
            for row in (await connection.execute(text(query), {"s": scope})).all():
                cleared.append(_holds(str(row.scope), str(row.state), now))
                try:
                    core = decode(str(row.state))
                except StateMismatch:  # rebuilt by the next round anyway
                    continue
                core.holds.parked_until = core.holds.paused_until = -math.inf
                core.holds.blocked_until = -math.inf
                core.holds.park_reason = None
                await connection.execute(
                    text("UPDATE gate_scopes SET state = :state WHERE scope = :s"),
                    {"state": encode(core), "s": row.scope},
                )
                await connection.execute(
                    text("SELECT pg_notify(:c, :s)"), {"c": gate_rows.CHANNEL, "s": row.scope}
                )
            released = (
                await connection.execute(
                    text(
                        "UPDATE slides s SET due_at = NULL FROM batches b"
                        " WHERE b.id = s.batch_id AND b.state = 'running'"
                        " AND s.state = 'pending' AND s.due_at > now() RETURNING s.batch_id"
                    )
                )
            ).all()
            batches = sorted({str(r.batch_id) for r in released})
            for batch_id in batches:
                await connection.execute(
                    text("SELECT pg_notify(:c, :b)"), {"c": WORK_CHANNEL, "b": batch_id}
                )
    return Cleared(tuple(cleared), len(released))


def _holds(scope: str, state: str, now: float) -> ScopeHolds:
    try:
        holds = decode(state).holds
    except StateMismatch:
        return ScopeHolds(scope, None, None, None, None)

    def left(until: float) -> float | None:
        return round(until - now, 1) if until > now else None

    parked = left(holds.parked_until)
    reason = holds.park_reason if parked is not None else None
    return ScopeHolds(scope, parked, reason, left(holds.paused_until), left(holds.blocked_until))
