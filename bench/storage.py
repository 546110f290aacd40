"""Per-slide cost of the durable state writes: mark_generating + mark_done per slide.

Usage (from the repository root)::

    PYTHONPATH=src python bench/storage.py [--slides 1000] [--concurrency 1 20]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

Creates a batch of N slides in a throwaway database, then walks every slide through
generating -> done the way the engine does (two short transactions per slide), with 1 and
with 20 slides in flight, and prints milliseconds per slide. SQLite runs in a temporary
folder; PostgreSQL in a temporary database on the given server (skipped if unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.storage.database import Database


def _request(count: int) -> BatchRequest:
    slides = tuple(
        Slide(id=f"s{i}", page_num=i + 1, type=SlideType.CONTENT, title=f"Slide {i}")
        for i in range(count)
    )
    return BatchRequest(slides=slides, style_prompt="bench")


async def _walk(db: Database, batch_id: str, keys: list[int], concurrency: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for key in keys:
        queue.put_nowait(key)

    async def worker() -> None:
        while not queue.empty():
            key = queue.get_nowait()
            now = datetime.now(UTC)
            await db.batches.mark_generating(batch_id, key, attempt=1, at=now)
            await db.batches.mark_done(
                batch_id,
                key,
                image_file=f"p{key + 1:03d}-k{key}-0123456789ab.png",
                generation_time=0.0,
                cost=None,
                placeholder=False,
                at=now,
            )

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(url: str, slides: int, concurrency: int) -> tuple[float, float]:
    """(ms per slide for the two writes, ms to create the batch)."""
    db = await Database.open(url)
    try:
        started = time.perf_counter()
        record, _ = await db.batches.create_batch(
            request=_request(slides),
            final_prompts=["p"] * slides,
            effective_workers=None,
            owner=None,
            idempotency_key=None,
        )
        created = time.perf_counter() - started
        started = time.perf_counter()
        await _walk(db, record.id, list(range(slides)), concurrency)
        elapsed = time.perf_counter() - started
    finally:
        await db.close()
    return elapsed / slides * 1000, created * 1000


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slides", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    for concurrency in args.concurrency:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            per_slide, create = await measure(url, args.slides, concurrency)
        print(
            f"sqlite     slides={args.slides} in_flight={concurrency:<3} "
            f"create={create:7.1f} ms  per_slide(generating+done)={per_slide:.3f} ms"
        )
        name = f"slidebatch_bench_{secrets.token_hex(4)}"
        try:
            await _admin(args.postgres, f'CREATE DATABASE "{name}"')
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"postgresql skipped: {exc}")
            continue
        base = args.postgres.rsplit("/", 1)[0]
        try:
            per_slide, create = await measure(f"{base}/{name}", args.slides, concurrency)
        finally:
            await _admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(
            f"postgresql slides={args.slides} in_flight={concurrency:<3} "
            f"create={create:7.1f} ms  per_slide(generating+done)={per_slide:.3f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
