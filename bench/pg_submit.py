"""The submit write path timed in-process: 30 batches of 20 slides at once, SQLite vs
PostgreSQL (a fresh database on the local server, dropped afterwards).

    .venv/bin/python bench/pg_submit.py [--runs 7] [--app]

Prints medians over the runs, in ms. Default: per-submit latency p50/p99 and the crowd's
wall time of an idempotency read, ``create_batch`` and the audit row (the writes of a
submit), then one transaction alone: empty (pool checkout, BEGIN, COMMIT) and the 30 batches
with their 600 slides. ``--app``: the 30 ``POST /generate?wait=false`` through the whole app
over ASGI (local provider, tiny images), admission and rendering sharing the loop: noisier.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from slidebatch.api.app import create_app
from slidebatch.config import load_settings
from slidebatch.core.audit import AuditAction, AuditEvent, AuditOutcome
from slidebatch.core.slide import BatchRequest, Slide, SlideType
from slidebatch.storage.audit import AuditRepository
from slidebatch.storage.database import Database
from slidebatch.storage.new_batches import NewBatch, insert_batches, new_batch

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
BATCHES, SLIDES = 30, 20
REPEATS = 5  # crowds and single transactions per run (per database opened)
Run = Callable[[str], Awaitable[dict[str, float]]]


def _request(n: int) -> BatchRequest:
    slides = tuple(
        Slide(f"s{k}", k + 1, SlideType.CONTENT, f"Title {n}.{k}", "Some content " * 8, "a chart")
        for k in range(SLIDES)
    )
    return BatchRequest(slides=slides, style_prompt="flat, blue")


async def _submit(db: Database, audit: AuditRepository, n: int) -> float:
    started = time.perf_counter()
    key = secrets.token_hex(8)
    await db.batches.find_by_idempotency_key("owner", key)
    request = _request(n)
    record, _ = await db.batches.create_batch(
        request=request,
        final_prompts=[s.title for s in request.slides],
        effective_workers=4,
        owner="owner",
        idempotency_key=key,
        request_fingerprint="f",
    )
    event = AuditEvent(
        at=datetime.now(UTC),
        action=AuditAction("batch.create"),
        outcome=AuditOutcome.OK,
        target=record.id,
        detail="slides=20 created=True",
    )
    await audit.record(event)
    return (time.perf_counter() - started) * 1000


async def _crowd(db: Database) -> tuple[float, float, float]:
    audit = AuditRepository.on(db)
    started = time.perf_counter()
    times = sorted(await asyncio.gather(*(_submit(db, audit, n) for n in range(BATCHES))))
    wall = (time.perf_counter() - started) * 1000
    return times[len(times) // 2], times[-1], wall


async def _timed(make: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await make()
    return (time.perf_counter() - started) * 1000


async def _parts(db: Database) -> dict[str, float]:
    """Medians of ``REPEATS`` single transactions (30 new batches each)."""
    empty = [await _timed(functools.partial(_empty, db)) for _ in range(REPEATS)]
    rows = [await _timed(functools.partial(_all_rows, db, _news())) for _ in range(REPEATS)]
    return {"empty tx": statistics.median(empty), "30x20 tx": statistics.median(rows)}


async def _empty(db: Database) -> None:
    async with db.writing():
        pass


async def _all_rows(db: Database, news: list[NewBatch]) -> None:
    async with db.writing() as connection:
        await insert_batches(connection, news)


def _news() -> list[NewBatch]:
    return [
        new_batch(
            secrets.token_hex(16),
            _request(n),
            [f"p{k}" for k in range(SLIDES)],
            effective_workers=4,
            owner="o",
            idempotency_key=None,
            created_at=datetime.now(UTC),
        )
        for n in range(BATCHES)
    ]


async def _post(client: httpx.AsyncClient, n: int) -> float:
    slides = [{"id": f"s{k}", "title": f"{n}.{k}", "content_text": "a\nb"} for k in range(SLIDES)]
    started = time.perf_counter()
    answer = await client.post(
        "/api/slide/batch/generate?wait=false",
        json={"slides": slides, "style_prompt": "navy"},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )
    assert answer.status_code == 202, answer.text
    return (time.perf_counter() - started) * 1000


async def _app_run(url: str) -> dict[str, float]:
    """30 POSTs at once through the whole app in-process (local provider, small images):
    the submit as ``bench --load`` sends it, admission running alongside."""
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            data_dir=Path(folder) / "data",
            log_dir=Path(folder) / "logs",
            image_provider="local",
            local_render_long_side=64,
            database_url=url,
        )
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            await asyncio.gather(*(_post(client, n) for n in range(BATCHES)))  # warm
            await asyncio.sleep(2)
            times = sorted(await asyncio.gather(*(_post(client, n) for n in range(BATCHES))))
    return {"app p50": times[len(times) // 2], "app p99": times[-1]}


async def _one_run(url: str) -> dict[str, float]:
    db = await Database.open(url)
    try:
        await _crowd(db)  # warm: connections, prepared statements
        crowds = [await _crowd(db) for _ in range(REPEATS)]
        p50, p99, wall = (statistics.median(c[n] for c in crowds) for n in range(3))
        return {"p50": p50, "p99": p99, "wall": wall} | await _parts(db)
    finally:
        await db.close()


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _postgres_run(run: Run) -> dict[str, float]:
    name = f"slidebatch_b_{secrets.token_hex(6)}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        return await run(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _sqlite_run(run: Run) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        return await run(f"sqlite+aiosqlite:///{Path(folder) / 'b.db'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--app", action="store_true", help="through the app (HTTP in-process)")
    arguments = parser.parse_args()
    runs = arguments.runs
    run = _app_run if arguments.app else _one_run
    for label, backend in (("sqlite", _sqlite_run), ("postgres", _postgres_run)):
        results = [asyncio.run(backend(run)) for _ in range(runs)]
        medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(label, "  ".join(f"{k}={v:.1f}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
