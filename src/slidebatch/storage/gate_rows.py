"""The fleet gate's rows: one state row per rate scope, one lease row per permit in flight.

Every function takes the caller's connection, inside the caller's transaction: the fleet
gate (``fleet/pg_gate.py``) locks the scope's row first (``lock_state``), so that each
decision of every worker sees the previous one whole. Times are fleet seconds (floats),
the one clock the fleet agrees on (the database server's unless a test injects another).
PostgreSQL only (``FOR UPDATE``, ``pg_notify``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from slidebatch.storage.tables import GatePermitRow, GateScopeRow

CHANNEL = "slidebatch_gate"  # LISTEN/NOTIFY channel; the payload is the scope


@dataclass(frozen=True, slots=True)
class StoredGate:
    """A scope's row: the config it was built from and its state (JSON texts)."""

    config: str
    state: str


@dataclass(frozen=True, slots=True)
class Leases:
    """The live leases of a scope: how many, and when the soonest one expires."""

    live: int
    soonest_expiry: float | None


async def database_now(connection: AsyncConnection) -> float:
    """The database server's clock, epoch seconds (``clock_timestamp()``: not the
    transaction's start, which may be long before the lock was granted)."""
    result = await connection.execute(text("SELECT extract(epoch FROM clock_timestamp())"))
    return float(result.scalar_one())


async def create_state(
    connection: AsyncConnection, scope: str, *, config: str, state: str, now: float
) -> None:
    """Insert the scope's row unless another process already did."""
    statement = pg_insert(GateScopeRow).values(
        scope=scope, config=config, state=state, updated_at=now
    )
    await connection.execute(statement.on_conflict_do_nothing(index_elements=["scope"]))


async def lock_state(connection: AsyncConnection, scope: str) -> StoredGate:
    """The scope's row, locked until the transaction ends (``FOR UPDATE``).

    The transaction commits without waiting for its WAL flush (``synchronous_commit``
    off, for it alone): the lock is held, and the next worker waits, for no fsync. A
    database crash may lose the last milliseconds of decisions, which a restarted fleet
    re-learns (the upstream answers 429 at worst); nothing else is written here.
    """
    await connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
    query = (
        select(GateScopeRow.config, GateScopeRow.state)
        .where(GateScopeRow.scope == scope)
        .with_for_update()
    )
    row = (await connection.execute(query)).one()
    return StoredGate(config=row.config, state=row.state)


async def save_state(
    connection: AsyncConnection, scope: str, *, state: str, now: float, config: str | None = None
) -> None:
    """Write the scope's state (and its config, when it changed)."""
    values: dict[str, object] = {"state": state, "updated_at": now}
    if config is not None:
        values["config"] = config
    await connection.execute(
        update(GateScopeRow).where(GateScopeRow.scope == scope).values(**values)
    )


async def live_leases(
    connection: AsyncConnection, scope: str, *, now: float, ending: Collection[int]
) -> Leases:
    """Delete the scope's leases expired by ``now`` and the ``ending`` ones (their requests
    ended); count the rest. One statement: the delete runs in a CTE, and the count, which
    sees the rows as they were before it, leaves out what it deletes."""
    statement = text(
        """
        WITH gone AS (
            DELETE FROM gate_permits
            WHERE scope = :scope AND (expires_at <= :now OR id = ANY(:ending))
            RETURNING id
        )
        SELECT count(*), min(expires_at) FROM gate_permits
        WHERE scope = :scope AND expires_at > :now AND NOT (id = ANY(:ending))
        """
    )
    params = {"scope": scope, "now": now, "ending": list(ending)}
    count, soonest = (await connection.execute(statement, params)).one()
    return Leases(live=int(count), soonest_expiry=None if soonest is None else float(soonest))


async def take_leases(
    connection: AsyncConnection,
    scope: str,
    seqs: Collection[int],
    *,
    holder: str,
    started_at: float,
    expires_at: float,
) -> list[tuple[int, int]]:
    """Insert a lease per start number ``seqs``; return ``(lease id, start number)`` pairs."""
    if not seqs:
        return []
    rows = [
        {
            "scope": scope,
            "seq": seq,
            "holder": holder,
            "started_at": started_at,
            "expires_at": expires_at,
        }
        for seq in seqs
    ]
    statement = insert(GatePermitRow).values(rows).returning(GatePermitRow.id, GatePermitRow.seq)
    result = await connection.execute(statement)
    return sorted(((int(row.id), int(row.seq)) for row in result), key=lambda pair: pair[1])


async def renew_leases(connection: AsyncConnection, ids: Collection[int], expires_at: float) -> int:
    """Move the leases ``ids`` to expire at ``expires_at``; return how many still existed."""
    if not ids:
        return 0
    result = await connection.execute(
        update(GatePermitRow).where(GatePermitRow.id.in_(list(ids))).values(expires_at=expires_at)
    )
    return int(result.rowcount)


async def notify(connection: AsyncConnection, scope: str) -> None:
    """Tell every listening worker that the scope's gate changed (sent at commit)."""
    await connection.execute(select(func.pg_notify(CHANNEL, scope)))
