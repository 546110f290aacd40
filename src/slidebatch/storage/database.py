"""The database: one async engine, migrations applied at open, and the repositories on it.

SQLite (the embedded default) runs in WAL mode with ``synchronous=NORMAL``: a commit is a
write to the WAL without fsync, which survives ``kill -9`` (the OS keeps the pages) and
keeps a per-slide state write well under a millisecond. Writers are serialised in-process
by ``write_lock`` because SQLite has one writer at a time; waiting on an ``asyncio.Lock``
is cheaper and fairer than spinning on ``busy_timeout``. PostgreSQL needs no such lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from slidebatch.observability.pipeline_log import EventLog
from slidebatch.storage.errors import StorageLost, translated
from slidebatch.storage.identity import FileIdentity, schema_problem
from slidebatch.storage.idle_ping import ping_when_idle
from slidebatch.storage.pg_owner import unreachable
from slidebatch.storage.repository import BatchRepository
from slidebatch.storage.retrying import Sleep
from slidebatch.storage.urls import parse_url, sqlite_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# PostgreSQL connections per process (DATABASE_POOL_SIZE); a fleet's processes times this
# must stay under the server's max_connections.
DEFAULT_POOL_SIZE = 20
# Statements SQLAlchemy keeps prepared per asyncpg connection (an LRU; its default is 100).
# The repositories run about 115 distinct statements besides the migrations' DDL (counted
# over tests/storage and the status tests on PostgreSQL): at 100 a process using most of them
# would evict and re-prepare in a cycle. Only statements in use are kept, so the larger cap
# costs PostgreSQL memory only for a working set that would otherwise thrash.
PREPARED_STATEMENT_CACHE_SIZE = 256
# Any constant works: it only has to be the same in every slidebatch process.
_MIGRATION_LOCK_ID = 0x51_1DE_BA7C4


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Database:
    """An open database: ``engine``, ``session_factory``, ``batches`` and a write lock."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        now: Callable[[], datetime] = _utc_now,
        file: FileIdentity | None = None,
        sleep: Sleep = asyncio.sleep,
        log: EventLog | None = None,
    ) -> None:
        self.engine = engine
        self.file = file  # the SQLite file as opened (None: PostgreSQL)
        self.session_factory: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False
        )
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.read_engine = read_engine(engine)
        self._write_lock = asyncio.Lock()
        self.batches = BatchRepository(
            self.read_engine, writing=self.writing, now=now, sleep=sleep, log=log
        )
        # Slide writes and audit rows share transactions (storage/group_commit.py).
        self.commits = self.batches.group_commit

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        now: Callable[[], datetime] = _utc_now,
        sleep: Sleep = asyncio.sleep,
        log: EventLog | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> Database:
        """Connect to ``url``, bring the schema to the newest revision, and return it.

        ``pool_size``: PostgreSQL connections this process keeps open (and never exceeds).
        ``sleep`` paces the retries of the engine's state writes during an outage; ``log``
        hears each of them (``storage_retry``).

        ``ConfigError`` for a URL slidebatch cannot use (``DatabaseUnreachable``, one
        message for every command, when a PostgreSQL database cannot be opened),
        ``StorageUnavailable`` when the database cannot be reached (SQLite) or migrated.
        """
        parsed = parse_url(url)
        file = _sqlite_identity(parsed)
        engine = create_async_engine(parsed, **_engine_options(parsed, pool_size))
        if file is not None:
            event.listen(engine.sync_engine, "do_connect", _OpenOnly(file))
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            ping_when_idle(engine)
        try:
            connection = await _connect(engine, parsed)
            try:
                with translated("migrating the database"):
                    async with connection.begin():
                        await connection.run_sync(_upgrade_to_head)
            finally:
                await connection.close()
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, now=now, file=file, sleep=sleep, log=log)

    async def close(self) -> None:
        """Finish the slide writes in progress, then close every pooled connection."""
        await self.batches.wait_idle()
        await self.engine.dispose()

    async def ping(self) -> bool:
        """True when a trivial query answers (for ``/readyz``)."""
        return await self.problem() is None

    async def problem(self) -> str | None:
        """None when this is still the database opened, reachable, with its schema.

        Else a short reason for ``/readyz``: unreachable, the SQLite file deleted or
        replaced since open, or the schema missing.
        """
        if self.file is not None and (moved := self.file.problem()) is not None:
            return moved
        try:
            async with self.engine.connect() as connection:
                return await schema_problem(connection)
        except Exception:  # readiness must answer, never raise
            return "the database cannot be reached"

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction; on SQLite, under the process's write lock.

        Other repositories (keys, audit) should write through this too, so that SQLite
        writers queue here instead of failing with "database is locked".
        """
        lock: contextlib.AbstractAsyncContextManager[Any] = (
            self._write_lock if self.is_sqlite else contextlib.nullcontext()
        )
        async with lock:
            self._refuse_a_lost_file()
            async with self.engine.begin() as connection:
                yield connection

    def _refuse_a_lost_file(self) -> None:
        """``StorageLost`` when the SQLite file is no longer the one opened.

        SQLite keeps writing into a deleted file's inode, so every write would "succeed" and
        vanish at the next restart. The same check as ``/readyz`` (one ``stat``) refuses it.
        """
        if self.file is not None and (problem := self.file.problem()) is not None:
            raise StorageLost(
                f"{problem}; writes are refused so that nothing is saved into a file that "
                "is gone (restore it, or restart the server on a new database)"
            )


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` for reads: on PostgreSQL each statement in its own implicit transaction.

    A read in a transaction costs two round trips more (BEGIN, then the pool's ROLLBACK when
    the connection returns) for nothing: under READ COMMITTED, PostgreSQL's default, every
    statement of a transaction sees its own snapshot anyway. Writes keep ``writing()``.
    SQLite's driver opens no transaction for a SELECT, so there it is ``engine`` itself.
    """
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def _connect(engine: AsyncEngine, url: URL) -> AsyncConnection:
    """The first connection of ``engine``. A PostgreSQL database that cannot be opened (no
    server, no such database, a refused user) raises ``DatabaseUnreachable``: the message
    every command says (``storage/pg_owner.py``), whoever opens the database first."""
    with translated("opening the database"):
        if url.drivername.startswith("sqlite"):
            return await engine.connect()
        try:
            return await engine.connect()
        except (DBAPIError, OSError) as exc:
            raise unreachable(url.render_as_string(hide_password=False), exc) from exc


def _engine_options(url: URL, pool_size: int) -> dict[str, Any]:
    if url.get_backend_name() == "sqlite":
        # Every use ends its transaction in a context manager, so the pool's extra
        # rollback on check-in is a wasted thread hop per call.
        return {"pool_size": 5, "max_overflow": 5, "pool_reset_on_return": None}
    # A fixed pool, no overflow: an overflow connection is closed as soon as it comes back
    # to a full pool, so under load connections were opened and closed all the time, and
    # each new one prepared every statement again (connection setup 1.4% and re-preparing
    # ~3.5% of the server's event loop, bench --load on PostgreSQL, py-spy). The ceiling
    # per process is the same as 10 + 10 overflow was. A dead PostgreSQL must fail a call,
    # not hang it. Connections idle for a while are pinged before use
    # (storage/idle_ping.py), not every one at every checkout.
    return {
        "pool_size": pool_size,
        "max_overflow": 0,
        "pool_timeout": 30,
        "connect_args": {
            "timeout": 10,
            "command_timeout": 60,
            "prepared_statement_cache_size": PREPARED_STATEMENT_CACHE_SIZE,
        },
    }


def _sqlite_identity(url: URL) -> FileIdentity | None:
    """The SQLite file of ``url``, created empty if missing (SQLite takes a 0-byte file as an
    empty database), as the kernel knows it; ``None`` for PostgreSQL.

    ``StorageUnavailable`` when the file cannot be created.
    """
    database_file = sqlite_file(url)
    if database_file is None:
        return None
    with translated("creating the SQLite file"):
        database_file.parent.mkdir(parents=True, exist_ok=True)
        database_file.touch(exist_ok=True)
        return FileIdentity.of(database_file)


class _OpenOnly:
    """``do_connect`` hook: every pooled SQLite connection opens the file opened at start.

    SQLite creates a missing file on connect, so after the file was deleted any new pooled
    connection (two requests at once, a background read) would put an empty database in its
    place: /readyz would then say "replaced" for a deletion, and the lost file's path would
    hold a file slidebatch made. So a connection is refused, with the reason, when the file
    is no longer the one opened, and opens with ``mode=rw`` (never creating one) even if the
    file vanishes between that check and the open.
    """

    def __init__(self, file: FileIdentity) -> None:
        self.file = file

    def __call__(
        self, _dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> None:
        if (problem := self.file.problem()) is not None:
            raise StorageLost(problem)
        cargs[0] = f"{self.file.path.resolve().as_uri()}?mode=rw"
        cparams["uri"] = True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite settings: WAL, cheap commits, waits instead of errors, FKs."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the migrations shipped in the package (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several processes may start at once; one migrates, the others wait and find
        # nothing left to do. The lock ends with this transaction.
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    command.upgrade(alembic_config(connection), "head")
