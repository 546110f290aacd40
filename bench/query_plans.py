"""Every query the API runs, with its PostgreSQL plan, over a database with some history.

    PYTHONPATH=src python bench/query_plans.py [--batches 2000]

A fresh PostgreSQL database (127.0.0.1:5432, dropped at the end) gets ``--batches`` finished
batches of 20 slides (with costs, two owners) and is ANALYZEd; then the API is driven
in-process (local renderer, tiny images) through its endpoints: submits, status polls with
and without ``since``, the list, active-count, usage, cancel, retry, regenerate, exports,
delete; then the latest prices and a queue position are read. Each distinct SQL statement
sent is printed once with ``EXPLAIN ANALYZE`` of it as first sent (writes rolled back),
marked ``SEQ`` when the plan scans a big table whole.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi.testclient import TestClient
from sqlalchemy import event

from slidebatch.api.app import create_app
from slidebatch.config import load_settings
from slidebatch.core.access import Role
from slidebatch.storage.database import Database
from slidebatch.storage.keys import KeyRepository, UsageRepository

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BIG_TABLES = ("batches", "slides", "audit_events")


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def _database() -> Iterator[str]:
    name = f"slidebatch_plans_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _history(url: str, batches: int) -> str:
    """Migrate, add ``batches`` finished batches of 20 slides, make a key; its secret."""
    database = await Database.open(f"postgresql+asyncpg://{url}")
    _, secret = await KeyRepository.on(database).create(name="plans", role=Role.ADMIN)
    await database.close()
    connection = await asyncpg.connect(f"postgresql://{url}")
    try:
        start = datetime.now(UTC) - timedelta(days=3)
        rows, slides = [], []
        for n in range(batches):
            batch_id = uuid.uuid4().hex
            at = start + timedelta(seconds=60 * n)
            owner = None if n % 2 else "someone-else"
            rows.append(
                (batch_id, owner, "completed", "s", "16:9", "", 20, at, at, at, n + 1, False)
            )
            for key in range(20):
                cost = 0.04 if key % 3 else None
                text = (f"s{key}", key + 1, "content", "t", "", "", "p", "done")
                image = (f"{batch_id}-{key}.png", 1.0, cost, cost, at, at, 1, 0, False)
                slides.append((batch_id, key, *text, *image))
        await connection.copy_records_to_table(
            "batches",
            records=rows,
            columns=[
                "id", "owner", "state", "style_prompt", "aspect_ratio", "title",
                "total_slides", "created_at", "started_at", "finished_at", "queue_seq",
                "cancel_requested",
            ],
        )  # fmt: skip
        await connection.copy_records_to_table(
            "slides",
            records=slides,
            columns=[
                "batch_id", "key", "client_id", "page_num", "type", "title", "content_text",
                "visual_desc", "final_prompt", "state", "image_file", "generation_time",
                "cost", "spent", "started_at", "finished_at", "attempts", "requeues",
                "placeholder",
            ],
        )  # fmt: skip
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return secret


def _drive(client: TestClient, headers: dict[str, str]) -> None:
    """Touch every batch endpoint the way the page and the seed's frontend do."""
    deck = {
        "slides": [{"id": f"s{i}", "title": f"Slide {i}"} for i in range(12)],
        "style_prompt": "navy",
    }
    done = client.post("/api/slide/batch/generate", json=deck, headers=headers).json()
    batch_id = done["batch_id"]
    status = client.get(f"/api/slide/batch/{batch_id}", headers=headers).json()
    client.get(f"/api/slide/batch/{batch_id}?since={status['version']}", headers=headers)
    client.post("/api/slide/batch/status", json={"batch_id": batch_id}, headers=headers)
    client.get("/api/slide/batch?limit=200", headers=headers)
    client.get("/api/slide/batch/active-count", headers=headers)
    client.get("/api/usage", headers=headers)
    client.get("/api/slide/batch/config/optimal?slides_count=30", headers=headers)
    client.post(f"/api/slide/batch/{batch_id}/slides/s3/regenerate", json={}, headers=headers)
    client.post(f"/api/slide/batch/{batch_id}/retry", headers=headers)
    client.get(f"/api/slide/batch/{batch_id}/export.zip", headers=headers)
    queued = client.post("/api/slide/batch/generate?wait=false", json=deck, headers=headers)
    other = queued.json()["batch_id"]
    client.get(f"/api/slide/batch/{other}", headers=headers)
    client.post(f"/api/slide/batch/{other}/cancel", headers=headers)
    client.delete(f"/api/slide/batch/{other}", headers=headers)


async def _repository_reads(url: str, seen: Any) -> None:
    """Reads the drive above does not reach with the local renderer (it reports no price,
    and nothing stays queued): the latest prices and a queue position."""
    database = await Database.open(f"postgresql+asyncpg://{url}")
    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await UsageRepository.on(database).mean_cost()
        listed, _ = await database.batches.list_batches(owner=None, limit=1, offset=0)
        await database.batches.queue_position(listed[0][0].id)
    finally:
        await database.close()


async def _explain(url: str, statements: dict[str, tuple[Any, ...]]) -> None:
    connection = await asyncpg.connect(f"postgresql://{url}")
    try:
        for sql, params in statements.items():
            head = sql.split()[0].upper()
            if head not in ("SELECT", "UPDATE", "DELETE", "INSERT", "WITH"):
                continue
            try:
                # A transaction rolled back: EXPLAIN ANALYZE of a write changes nothing.
                async with connection.transaction():
                    plan = await connection.fetch("EXPLAIN ANALYZE " + sql, *params)
                    raise _RolledBack
            except _RolledBack:
                pass
            except Exception as exc:  # a plan we cannot take is printed as such
                print(f"\n== {sql}\n   (no plan: {exc})")
                continue
            lines = [row[0] for row in plan]
            seq = any("Seq Scan on " + t in line for t in BIG_TABLES for line in lines)
            print(f"\n== {'SEQ ' if seq else ''}{sql}")
            print("\n".join("   " + line for line in lines))
    finally:
        await connection.close()


class _RolledBack(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()
    with _database() as name, tempfile.TemporaryDirectory() as tmp:
        url = f"postgres@127.0.0.1:5432/{name}"
        secret = asyncio.run(_history(url, args.batches))
        settings = load_settings(
            data_dir=Path(tmp) / "data",
            log_dir=Path(tmp) / "logs",
            image_provider="local",
            local_render_long_side=96,
            database_url=f"postgresql+asyncpg://{url}",
        )
        statements: dict[str, tuple[Any, ...]] = {}

        def seen(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
            first = params[0] if many and params else params
            statements.setdefault(" ".join(sql.split()), tuple(first or ()))

        with TestClient(create_app(settings)) as client:
            database: Database = client.app.state.services.database  # type: ignore[attr-defined]
            # The read engine fires the engine's events too.
            event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
            _drive(client, {"Authorization": f"Bearer {secret}"})
        asyncio.run(_repository_reads(url, seen))
        asyncio.run(_explain(url, statements))


if __name__ == "__main__":
    main()
