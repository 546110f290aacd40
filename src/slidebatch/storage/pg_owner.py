"""One kind of process owns a PostgreSQL database: an advisory lock held for the process's life.

A fleet (``slidebatch worker``, ``serve --fleet``, ``serve --no-worker``) shares its database
on purpose: its processes claim slides and pace the upstream through it. A single-process
engine (plain ``generate`` or ``serve``) dispatches and gates in memory, so beside a fleet,
or beside another engine, it pays slides twice and exceeds the rate limit. So every process
on PostgreSQL holds the session-level advisory lock ``OWNER_LOCK_KEY`` on one dedicated
connection kept open until it ends: shared for a fleet process, exclusive for an engine.
PostgreSQL drops it with the session (the process exits or dies: nothing stale remains).
The connection's ``application_name`` ("slidebatch fleet pid 123 (worker)") names the holder
for the message that refuses the next one. Advisory locks are per database: another
database on the same server is free. The SQLite counterpart is ``storage/ownership.py``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from slidebatch.errors import ConfigError
from slidebatch.storage.urls import parse_url

# Fixed for every version (a process of an old release must conflict with a new one):
# "slideb" in ASCII, then 0001. Its halves are what pg_locks shows as classid and objid.
OWNER_LOCK_KEY = 0x736C_6964_6562_0001
_NAME_LIMIT = 63  # PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes

_HOLDERS = """
SELECT a.pid, a.application_name, l.mode
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid
ORDER BY a.backend_start
"""


@dataclass(frozen=True, slots=True)
class Holder:
    """A session holding the owner lock, as pg_locks and pg_stat_activity show it."""

    pid: int
    name: str
    fleet: bool  # shared lock: a fleet process; exclusive: a single-process engine

    def describe(self) -> str:
        return self.name or f"an unnamed session (backend pid {self.pid})"


class DatabaseInUse(ConfigError):
    """The database is owned by processes of the other kind (or by another engine)."""

    def __init__(self, *, fleet: bool, holders: list[Holder]) -> None:
        named = "; ".join(h.describe() for h in holders) or "a session that has just ended"
        if holders and all(h.fleet for h in holders):
            advice = (
                "a slidebatch fleet runs on this PostgreSQL database: "
                f"{named}. A plain `generate` or `serve` runs its own engine and rate gate "
                "and would pay slides twice beside it: submit through the fleet's "
                "`serve --no-worker` (or `serve --fleet`) and let `slidebatch worker` "
                "generate, or point this process at another database (DATABASE_URL)."
            )
        else:
            advice = (
                "a single-process slidebatch engine owns this PostgreSQL database: "
                f"{named}. Nothing else may run beside it (each would pay slides twice "
                "and exceed the rate limit): stop it and run a fleet (`serve --no-worker`, "
                "`serve --fleet`, `worker`), or point this process at another database."
            )
        super().__init__(advice)
        self.fleet = fleet
        self.holders = holders


class DatabaseUnreachable(ConfigError):
    """The PostgreSQL database of ``DATABASE_URL`` cannot be opened (no server, no such
    database, refused credentials): nothing can run, so the process stops with one line."""


FLEET_NEEDS_POSTGRESQL = (
    "a fleet (slidebatch worker, serve --no-worker or --fleet) needs PostgreSQL:"
    " set DATABASE_URL=postgresql://..."
)


def require_postgresql(url: str) -> None:
    """Raise ``ConfigError`` (``FLEET_NEEDS_POSTGRESQL``) unless ``url`` is PostgreSQL: the
    one check of every fleet role (an unset or empty ``DATABASE_URL`` means SQLite)."""
    if not parse_url(url).drivername.startswith("postgresql"):
        raise ConfigError(FLEET_NEEDS_POSTGRESQL)


def unreachable(url: str, exc: BaseException) -> DatabaseUnreachable:
    """The one message for a PostgreSQL database that cannot be opened (``url`` shown
    without its password; ``exc`` the driver's error, or SQLAlchemy's around it: its
    innermost cause gives the reason, e.g. ``database "x" does not exist``)."""
    where = parse_url(url).render_as_string(hide_password=True)
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    first = (str(root).strip().splitlines() or [type(root).__name__])[0]
    return DatabaseUnreachable(
        f"cannot open the PostgreSQL database {where}: {first}; check DATABASE_URL"
        " (the server runs, the database exists, the user may connect)"
    )


def owner_name(*, fleet: bool, command: str) -> str:
    """This process's ``application_name``: kind, pid and command, within PostgreSQL's limit."""
    kind = "fleet" if fleet else "engine"
    name = f"slidebatch {kind} pid {os.getpid()} ({command})"
    return name if len(name) <= _NAME_LIMIT else name[: _NAME_LIMIT - 4] + "...)"


async def hold_database(dsn: str, *, fleet: bool, command: str) -> Any:
    """Open the owner connection and take the lock (shared if ``fleet``); raise if held.

    Returns the asyncpg connection: the lock lasts until it is closed (or the process ends).
    Raises ``DatabaseInUse`` at once, without waiting, naming who holds the database, and
    ``DatabaseUnreachable`` when the database cannot be opened at all.
    """
    name = owner_name(fleet=fleet, command=command)
    try:
        connection = await asyncpg.connect(
            dsn, timeout=10, server_settings={"application_name": name}
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise unreachable(dsn, exc) from exc
    try:
        take = "pg_try_advisory_lock_shared" if fleet else "pg_try_advisory_lock"
        if await connection.fetchval(f"SELECT {take}($1::bigint)", OWNER_LOCK_KEY):
            return connection
        rows = await connection.fetch(_HOLDERS, OWNER_LOCK_KEY >> 32, OWNER_LOCK_KEY & 0xFFFFFFFF)
    except BaseException:
        await connection.close(timeout=5)
        raise
    await connection.close(timeout=5)
    holders = [
        Holder(r["pid"], r["application_name"] or "", r["mode"] == "ShareLock") for r in rows
    ]
    raise DatabaseInUse(fleet=fleet, holders=holders)


async def check_database(url: str, *, fleet: bool, command: str) -> None:
    """Raise ``DatabaseInUse`` now if this process could not own ``url`` (PostgreSQL only),
    ``DatabaseUnreachable`` if it cannot be opened, and ``ConfigError`` for a ``fleet``
    process on anything but PostgreSQL (``require_postgresql``).

    For a server, whose lifespan (``build_services``) takes the lock for good only once
    uvicorn runs: refused here, it exits 2 with the message instead of a lifespan failure.
    """
    if fleet:
        require_postgresql(url)
    parsed = parse_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await hold_database(dsn, fleet=fleet, command=command)
    await connection.close(timeout=5)


def watch_owner(connection: Any, on_lost: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    """Call ``on_lost`` if the owner connection closes under the process (a dropped
    connection, ``pg_terminate_backend``): the lock went with its session, and another
    engine may take the database. Returns the release to run at the process's end (the
    lock given up on purpose: no ``on_lost``)."""

    def closed(_connection: object) -> None:
        on_lost()

    connection.add_termination_listener(closed)
    if connection.is_closed():  # lost before the listener was added: it will never fire
        asyncio.get_running_loop().call_soon(on_lost)

    async def release() -> None:
        connection.remove_termination_listener(closed)
        await connection.close(timeout=5)

    return release
