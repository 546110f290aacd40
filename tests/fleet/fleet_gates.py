"""Fleet gates for the tests: a ``PgGate`` whose rounds with the database hold the test's
``FakeClock``, so that the virtual times a test sees do not depend on the machine's load."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from slidebatch.fleet.pg_gate import PgGate, PgPermit, _Round
from slidebatch.scheduler.clock import Clock
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.testing.clock import FakeClock


class HeldGate(PgGate):
    """A ``PgGate`` whose every round holds its clock when that is a ``FakeClock``.

    A round trip to the database is work the event loop cannot see: longer than the clock's
    autojump threshold (a loaded machine), virtual time jumped to the next sleeper under the
    round, the start it granted was handed out late, and a test's starts came whole windows
    late. Held, time stands still until the round has decided and committed.
    """

    async def _round(self, *, want: int, leaving: PgPermit | None = None) -> _Round:
        clock = self.clock
        if not isinstance(clock, FakeClock):
            return await super()._round(want=want, leaving=leaving)
        with clock.holding():
            return await super()._round(want=want, leaving=leaving)


async def open_held_gate(
    engine: AsyncEngine,
    scope: str,
    config: GateConfig,
    *,
    clock: Clock,
    fleet_clock: Clock | None,
    lease_seconds: float = 15.0,
    holder: str = "worker-0",
) -> HeldGate:
    """``open_pg_gate`` with a ``HeldGate`` (the same arguments; no log)."""
    gate = HeldGate(
        engine,
        scope,
        config,
        clock=clock,
        fleet_clock=fleet_clock,
        lease_seconds=lease_seconds,
        holder=holder,
        log=None,
    )
    await gate._open()
    return gate
