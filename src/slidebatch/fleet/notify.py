"""LISTEN to the fleet's channels on one dedicated asyncpg connection, reconnecting after a loss.

PostgreSQL delivers a ``pg_notify`` to every listening session once the notifying
transaction commits. A notification sent while this process was disconnected is lost, so
``on_connect`` runs after every (re)connection: the caller re-reads what it may have missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL

from slidebatch.observability.pipeline_log import EventLog

Handler = Callable[[str], None]  # called with the payload, on the event loop; must not block


def plain_dsn(url: URL) -> str:
    """The SQLAlchemy URL as a DSN asyncpg accepts (driver name dropped, password kept)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """Calls ``handlers[channel](payload)`` for each notification on its channels."""

    def __init__(
        self,
        dsn: str,
        handlers: Mapping[str, Handler],
        log: EventLog,
        *,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        retry_every: float = 1.0,
    ) -> None:
        self._dsn = dsn
        self._handlers = dict(handlers)
        self._log = log
        self._on_connect = on_connect
        self._retry_every = retry_every
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled; a lost connection is re-opened every ``retry_every`` s."""
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: try again shortly
                self._log.failure("fleet_listen_failed", exc)
            self.connected.clear()
            await asyncio.sleep(self._retry_every)

    async def _listen_once(self) -> None:
        connection: Any = await asyncpg.connect(self._dsn, timeout=10)
        try:
            for channel in self._handlers:
                await connection.add_listener(channel, self._deliver)
            self.connected.set()
            if self._on_connect is not None:
                await self._on_connect()
            while not connection.is_closed():
                await asyncio.sleep(self._retry_every)
                await asyncio.wait_for(connection.execute("SELECT 1"), timeout=10)
        finally:
            await connection.close(timeout=5)

    def _deliver(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        handler = self._handlers.get(channel)
        if handler is None:
            return
        try:
            handler(payload)
        except Exception as exc:  # one bad payload must not stop the listener
            self._log.failure("fleet_notification_failed", exc, channel=channel)
