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

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from slidebatch.storage.tables import GatePermitRow, GateScopeRow

CHANNEL = "slidebatch_gate"  # LISTEN/NOTIFY channel; the payload is the scope
# A round's reports held every start (a 429's pause, a park): permits handed out and not
# yet sent are checked again before their requests leave. Payload: the scope.
HOLD_CHANNEL = "slidebatch_gate_hold"


@dataclass(frozen=True, slots=True)
class StoredGate:
    """A scope's row: the config it was built from and its state (JSON texts)."""

    config: str
    state: str


@dataclass(frozen=True, slots=True)
class Granted:
    """A start a round made: its lease, its start number and its instant (fleet seconds)."""

    lease: int
    seq: int
    at: float


@dataclass(frozen=True, slots=True)
class Leases:
    """The live leases of a scope: how many, when the soonest one expires, and when."""

    live: int
    soonest_expiry: float | None
    now: float  # fleet seconds, when they were counted


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
    off, for it alone, set by the same statement: one round trip): the lock is held, and
    the next worker waits, for no fsync. A
    database crash may lose the last milliseconds of decisions, which a restarted fleet
    re-learns (the upstream answers 429 at worst); nothing else is written here.
    """
    query = text(
        """
        WITH quick AS (SELECT set_config('synchronous_commit', 'off', true))
        SELECT g.config, g.state FROM gate_scopes g, quick
        WHERE g.scope = :scope
        FOR UPDATE OF g
        """
    )
    row = (await connection.execute(query, {"scope": scope})).one()
    return StoredGate(config=row.config, state=row.state)


async def live_leases(
    connection: AsyncConnection, scope: str, *, now: float | None, ending: Collection[int]
) -> Leases:
    """Delete the scope's leases expired by ``now`` and the ``ending`` ones (their requests
    ended); count the rest. One statement: the delete runs in a CTE, and the count, which
    sees the rows as they were before it, leaves out what it deletes. ``now`` None: the
    database server's clock (``clock_timestamp()``, read by this statement, after the
    caller's row lock was granted), returned in ``Leases.now``."""
    statement = text(
        """
        WITH t AS (
            SELECT coalesce(
                CAST(:now AS double precision),
                CAST(extract(epoch FROM clock_timestamp()) AS double precision)
            ) AS now
        ), gone AS (
            DELETE FROM gate_permits p USING t
            WHERE p.scope = :scope AND (p.expires_at <= t.now OR p.id = ANY(:ending))
            RETURNING p.id
        )
        SELECT t.now, count(p.id), min(p.expires_at)
        FROM t LEFT JOIN gate_permits p
            ON p.scope = :scope AND p.expires_at > t.now AND NOT (p.id = ANY(:ending))
        GROUP BY t.now
        """
    )
    params = {"scope": scope, "now": now, "ending": list(ending)}
    at, count, soonest = (await connection.execute(statement, params)).one()
    return Leases(
        live=int(count),
        soonest_expiry=None if soonest is None else float(soonest),
        now=float(at),
    )


async def write_round(
    connection: AsyncConnection,
    scope: str,
    starts: Collection[tuple[int, float]],
    *,
    holder: str,
    now: float,
    expires_at: float,
    state: str,
    config: str | None = None,
    notify: bool = False,
    hold: bool = False,
) -> list[Granted]:
    """Insert a lease per ``(start number, instant)`` of ``starts``, write the scope's state
    (and its config, when it changed; ``updated_at`` is ``now``) and, with ``notify``, tell
    every listening worker that the scope's gate changed, with ``hold`` that it holds every
    start (both sent at commit): one statement. Returns the starts made, in start order."""
    statement = text(
        """
        WITH saved AS (
            UPDATE gate_scopes SET state = :state, updated_at = :now,
                config = coalesce(CAST(:config AS text), config)
            WHERE scope = :scope
            RETURNING CASE WHEN CAST(:notify AS boolean)
                THEN pg_notify(:channel, :scope) END AS told,
                CASE WHEN CAST(:hold AS boolean)
                THEN pg_notify(:hold_channel, :scope) END AS held
        )
        INSERT INTO gate_permits (scope, seq, holder, started_at, expires_at)
        SELECT :scope, s.seq, :holder, s.at, :until
        FROM unnest(CAST(:seqs AS bigint[]), CAST(:ats AS double precision[])) AS s (seq, at)
        RETURNING id, seq, started_at
        """
    )
    params = {
        "scope": scope,
        "state": state,
        "now": now,
        "config": config,
        "notify": notify,
        "channel": CHANNEL,
        "hold": hold,
        "hold_channel": HOLD_CHANNEL,
        "holder": holder,
        "until": expires_at,
        "seqs": [seq for seq, _ in starts],
        "ats": [at for _, at in starts],
    }
    result = await connection.execute(statement, params)
    granted = (Granted(int(r.id), int(r.seq), float(r.started_at)) for r in result)
    return sorted(granted, key=lambda start: start.seq)


async def renew_leases(connection: AsyncConnection, ids: Collection[int], expires_at: float) -> int:
    """Move the leases ``ids`` to expire at ``expires_at``; return how many still existed."""
    if not ids:
        return 0
    result = await connection.execute(
        update(GatePermitRow).where(GatePermitRow.id.in_(list(ids))).values(expires_at=expires_at)
    )
    return int(result.rowcount)


async def read_state(connection: AsyncConnection, scope: str) -> StoredGate:
    """The scope's row as last committed, without a lock (for figures, never a decision)."""
    query = text("SELECT config, state FROM gate_scopes WHERE scope = :scope")
    row = (await connection.execute(query, {"scope": scope})).one()
    return StoredGate(config=row.config, state=row.state)
