"""Database.open: URLs, pragmas, migrations, health, and failures translated at the edge."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import event, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from storage_helpers import deck

from slidebatch.config import Settings
from slidebatch.errors import ConfigError
from slidebatch.storage.database import MIGRATIONS_DIR, Database
from slidebatch.storage.errors import StorageUnavailable
from slidebatch.storage.pg_owner import DatabaseUnreachable
from slidebatch.storage.urls import async_url, parse_url


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migrations must form one line, found heads {heads}"
    return heads[0]


def test_migrations_form_one_line() -> None:
    """Every revision has a unique id and there is exactly one head (no parallel 000N files)."""
    ids = [
        line.split("=")[1].strip().strip('"')
        for path in (MIGRATIONS_DIR / "versions").glob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("revision:")
    ]
    assert len(ids) == len(set(ids)), sorted(ids)
    assert _head() == max(ids)


TABLES = {
    "alembic_version",
    "api_keys",
    "app_config",
    "audit_events",
    "batch_looks",
    "batch_references",
    "batches",
    "fleet_workers",
    "gate_permits",
    "gate_scopes",
    "project_batches",
    "projects",
    "slide_candidates",
    "slide_payments",
    "slides",
    "templates",
}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("postgres://u:pw@h:5432/db", "postgresql+asyncpg://u:pw@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_urls_are_rewritten_to_async_drivers(given: str, expected: str) -> None:
    """Common URL spellings run on aiosqlite / asyncpg, passwords intact for the driver."""
    assert async_url(given) == expected


@pytest.mark.parametrize(
    "url", ["mysql://u:secret@h/db", "sqlite://", "sqlite:///:memory:", "not a url"]
)
def test_unusable_urls_are_config_errors_without_secrets(url: str) -> None:
    """Unsupported backends, in-memory SQLite and garbage fail with ConfigError, no password."""
    with pytest.raises(ConfigError) as info:
        parse_url(url)
    assert "secret" not in str(info.value)


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    return set(names)


async def test_open_migrates_to_head_and_reopen_is_a_no_op(database_url: str) -> None:
    """First open creates every table; a second open keeps data and the revision."""
    db = await Database.open(database_url)
    try:
        assert await _tables(db) == TABLES
        record, _ = await db.batches.create_batch(
            request=deck(2),
            final_prompts=["a", "b"],
            effective_workers=None,
            owner=None,
            idempotency_key=None,
        )
    finally:
        await db.close()
    again = await Database.open(database_url)
    try:
        async with again.engine.connect() as connection:
            versions = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).all()
        assert [v[0] for v in versions] == [_head()]
        assert (await again.batches.get_batch(record.id)).total_slides == 2
        assert await again.ping() is True
    finally:
        await again.close()


async def test_sqlite_file_folder_is_created_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    """A SQLite database gets its folder made and runs in WAL with foreign keys on."""
    path = tmp_path / "a" / "b" / "slidebatch.db"
    db = await Database.open(f"sqlite:///{path}")
    try:
        assert path.is_file()
        async with db.engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
            synchronous = (await connection.execute(text("PRAGMA synchronous"))).scalar()
        assert (mode, foreign_keys, synchronous) == ("wal", 1, 1)
    finally:
        await db.close()


async def test_unreachable_postgres_is_database_unreachable() -> None:
    """A PostgreSQL database that cannot be opened fails open with DatabaseUnreachable (a
    ConfigError: every command says the same line, exit 2), the URL shown without password."""
    with pytest.raises(DatabaseUnreachable) as info:
        await Database.open("postgresql://u:secret@127.0.0.1:1/none")
    assert "secret" not in str(info.value)
    assert str(info.value).startswith(
        "cannot open the PostgreSQL database postgresql+asyncpg://u:***@127.0.0.1:1/none: "
    )
    assert str(info.value).endswith(
        "; check DATABASE_URL (the server runs, the database exists, the user may connect)"
    )


async def test_lost_tables_become_storage_unavailable(database_url: str) -> None:
    """A database that lost its schema answers StorageUnavailable, not a driver error."""
    db = await Database.open(database_url)
    try:
        async with db.writing() as connection:
            await connection.execute(text("DROP TABLE slides"))
        with pytest.raises(StorageUnavailable, match="read slides"):
            await db.batches.get_slides("0" * 32)
    finally:
        await db.close()


async def test_ping_is_false_when_the_database_cannot_answer() -> None:
    """ping answers False instead of raising when the database is unreachable."""
    engine = create_async_engine("postgresql+asyncpg://u@127.0.0.1:1/none")
    db = Database(engine)
    try:
        assert await db.ping() is False
    finally:
        await db.close()


async def test_problem_names_a_missing_schema(database_url: str) -> None:
    """A reachable database without slidebatch's tables is not ready, on either backend."""
    database = await Database.open(database_url)
    try:
        assert await database.problem() is None
        async with database.engine.begin() as connection:
            await connection.execute(text("DROP TABLE slides"))
            referring_tables = (
                "project_batches",
                "batch_looks",
                "batch_references",
                "slide_payments",
            )
            for referring in referring_tables:
                await connection.execute(text(f"DROP TABLE {referring}"))  # refer to batches
            await connection.execute(text("DROP TABLE slide_candidates"))
            await connection.execute(text("DROP TABLE batches"))
        assert await database.problem() == "the database has no slidebatch schema"
    finally:
        await database.close()


@pytest.mark.postgres
async def test_postgres_reads_open_no_transaction(postgres_url: str) -> None:
    """Reads cost no BEGIN/ROLLBACK round trips on PostgreSQL; writes still run in one."""
    db = await Database.open(postgres_url)
    try:
        async with db.read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            raw = await connection.get_raw_connection()
            assert not raw.driver_connection.is_in_transaction()
        async with db.writing() as connection:
            await connection.execute(text("SELECT 1"))
            raw = await connection.get_raw_connection()
            assert raw.driver_connection.is_in_transaction()
        batch, _ = await db.batches.create_batch(
            request=deck(2), final_prompts=["a", "b"], effective_workers=1, owner=None,
            idempotency_key=None,
        )  # fmt: skip
        assert [s.key for s in await db.batches.get_slides(batch.id)] == [0, 1]
    finally:
        await db.close()


@pytest.mark.postgres
async def test_postgres_pool_keeps_its_connections_under_a_burst(postgres_url: str) -> None:
    """A burst of 3 x pool size concurrent queries runs on at most pool-size backends, and
    a second burst opens no new connection (none is closed and reopened as overflow)."""
    db = await Database.open(postgres_url, pool_size=4)
    connects = 0

    def count(*_args: object) -> None:
        nonlocal connects
        connects += 1

    event.listen(db.engine.sync_engine, "connect", count)

    async def backend_pid() -> int:
        async with db.read_engine.connect() as connection:
            return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        first = set(await asyncio.gather(*(backend_pid() for _ in range(12))))
        warmed = connects
        second = set(await asyncio.gather(*(backend_pid() for _ in range(12))))
        assert len(first | second) <= 4
        assert connects == warmed <= 4
        assert db.engine.pool.size() == 4
        assert db.engine.pool.overflow() <= 0
    finally:
        await db.close()


def test_pool_size_is_a_setting() -> None:
    """DATABASE_POOL_SIZE sizes the PostgreSQL pool; 20 unless set."""
    assert Settings().database_pool_size == 20
    assert Settings(database_pool_size=8).database_pool_size == 8
    with pytest.raises(ValidationError, match="database_pool_size"):
        Settings(database_pool_size=0)
