"""PostgreSQL pool connections are pinged only after they sat idle, not at every checkout.

SQLAlchemy's ``pool_pre_ping`` pings each connection as it leaves the pool; through asyncpg
that ping is three round trips (BEGIN, an empty query, ROLLBACK, for pgbouncer), so a status
poll or a slide write paid them before its own statements: 7.7% of the server's event loop in
the 30 x 20 slides run of ``slidebatch bench --load`` (py-spy). A connection back from work a
moment ago was alive a moment ago. One idle longer than ``idle_seconds`` is pinged as before,
and a dead one is replaced before it is used (``DisconnectionError``: the pool connects a
fresh one). A server restart under steady load is met by the first statement instead; the
disconnect invalidates the whole pool, the engine's bookkeeping retries
(``storage/retrying.py``) and a client's read answers 503 once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

# Longer than the gaps between uses under load, far shorter than what closes idle
# connections (a restart, a firewall's or a proxy's idle timeout).
IDLE_SECONDS = 10.0
_RETURNED = "slidebatch_returned_at"


class PingWhenIdle:
    """Pool ``checkin`` / ``checkout`` hooks: ping a connection idle for ``idle_seconds``."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dialect = dialect
        self._idle = idle_seconds
        self._clock = clock
        self.pings = 0  # how many were sent (tests and curiosity)

    def checkin(self, _dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED] = self._clock()

    def checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.pop(_RETURNED, None)
        if returned is None or self._clock() - returned < self._idle:
            return  # just connected, or back from work a moment ago
        self.pings += 1
        try:
            self._dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool invalidates this connection and checks out a fresh one.
            raise exc.DisconnectionError(f"an idle connection did not answer: {error}") from error


def ping_when_idle(engine: AsyncEngine, **options: Any) -> PingWhenIdle:
    """Install ``PingWhenIdle`` on ``engine``'s pool; returns it."""
    hooks = PingWhenIdle(engine.dialect, **options)
    event.listen(engine.sync_engine.pool, "checkin", hooks.checkin)
    event.listen(engine.sync_engine.pool, "checkout", hooks.checkout)
    return hooks
