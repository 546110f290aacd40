"""Alembic environment: runs on a connection handed in by ``Database.open``, or on its own.

Programmatic use (the server's start): ``config.attributes["connection"]`` holds a sync
``Connection`` (from ``AsyncConnection.run_sync``) that is already in a transaction.
Command-line use (``alembic -x url=... upgrade head`` or ``DATABASE_URL``): an async engine is
built here and the migrations run through ``run_sync``.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from slidebatch.storage import seed_tables  # noqa: F401  (registers its tables on Base)
from slidebatch.storage.tables import Base
from slidebatch.storage.urls import async_url

target_metadata = Base.metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("DATABASE_URL")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set DATABASE_URL")
    return async_url(url)


async def _run_online_async() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_configure_and_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
    elif context.is_offline_mode():
        _run_offline()
    else:
        asyncio.run(_run_online_async())


_main()
