"""Several worker processes against one upstream limit: the fleet gate versus one gate each.

Usage (from the repository root)::

    PYTHONPATH=src python bench/fleet_gate.py [--processes 3] [--requests 120]
        [--time-scale 0.1] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Starts the fake upstream (OpenRouter-shaped, 20 requests per 60 s window, lognormal
latency median 9 s, p95 20 s, all scaled by ``--time-scale``) and a throwaway PostgreSQL
database, then runs the same requests split over ``--processes`` OS processes, each with
``--tasks`` concurrent requests through the real OpenRouter provider, twice:

* ``fleet``: every process opens the ``PgGate`` of one scope (``fleet/pg_gate.py``);
* ``separate``: every process has its own in-memory ``Gate`` configured with the same
  limit (what two ``slidebatch serve`` on one key did before the fleet gate).

Each process retries a 429 through its gate (which pauses for it). Printed per run: the
429s, the busiest window of accepted requests against the limit, the starts per window
over the run, and the makespan against the bound ``T*`` of SPEC section 4 (computed from
the latencies the upstream drew; upstream seconds, unscaled).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import asyncpg
import httpx

from slidebatch.core.aspect import AspectRatio
from slidebatch.core.bound import makespan_bound
from slidebatch.core.slide import Slide, SlideType
from slidebatch.errors import ProviderError, RateLimited
from slidebatch.fleet.pg_gate import open_pg_gate
from slidebatch.providers.base import ImageRequest
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.scheduler.clock import SystemClock
from slidebatch.scheduler.gate import Gate
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.scheduler.rate_gate import GatePermit, RateGate
from slidebatch.storage.database import Database
from slidebatch.testing.fake_upstream import FakeUpstreamConfig, FakeUpstreamServer

RATE = 20
WINDOW = 60.0
MODEL = "google/gemini-3-pro-image-preview"


@dataclass(frozen=True)
class Worker:
    """What one worker process runs."""

    mode: str  # "fleet" or "separate"
    database_url: str
    scope: str
    upstream: str
    requests: int
    tasks: int
    window_wall: float
    start_at: float  # time.time() at which every process begins


def _request(key: int) -> ImageRequest:
    slide = Slide(id=f"s{key}", page_num=key, type=SlideType.CONTENT, title=f"Slide {key}")
    return ImageRequest(
        prompt=f"slide {key}", slide=slide, style_prompt="plain", aspect_ratio=AspectRatio(16, 9)
    )


async def _one(gate: RateGate, provider: OpenRouterProvider, key: int) -> int:
    """Send one request until it succeeds; return how many 429s it met."""
    refused = 0
    for _ in range(50):
        permit: GatePermit = await gate.acquire()
        try:
            result = await provider.generate(_request(key))
        except RateLimited as exc:
            permit.failure(exc)
            refused += 1
            continue
        except ProviderError as exc:
            permit.failure(exc)
            continue
        permit.success(result.rate_limit)
        return refused
    raise RuntimeError(f"request {key} never succeeded")


async def _work(worker: Worker) -> int:
    config = GateConfig(rate=RATE, window=worker.window_wall)
    clock = SystemClock()
    engine = None
    if worker.mode == "fleet":
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(worker.database_url, pool_size=3)
        gate: Any = await open_pg_gate(engine, worker.scope, config, clock=clock)
    else:
        gate = Gate(config, clock=clock)
    keys = list(range(worker.requests))
    async with httpx.AsyncClient(timeout=120.0) as http:
        provider = OpenRouterProvider(
            http, api_key="bench-key", base_url=worker.upstream, model=MODEL
        )
        await asyncio.sleep(max(0.0, worker.start_at - time.time()))

        async def task() -> int:
            refused = 0
            while keys:
                refused += await _one(gate, provider, keys.pop())
            return refused

        refused = sum(await asyncio.gather(*(task() for _ in range(worker.tasks))))
    if engine is not None:
        await gate.aclose()
        await engine.dispose()
    return refused


def _process(worker: Worker) -> int:
    return asyncio.run(_work(worker))


def _figures(stats: dict[str, Any], *, scale: float, cap: int) -> dict[str, Any]:
    rows = [r for r in stats["requests"] if r["latency_drawn"] is not None]
    arrivals = sorted(r["arrival"] / scale for r in rows)
    busiest = max(sum(1 for b in arrivals if a <= b < a + WINDOW) for a in arrivals)
    latencies = [r["latency_drawn"] for r in rows]
    bound = makespan_bound(latencies, rate=RATE, window=WINDOW, cap=cap)
    first = min(r["arrival"] for r in stats["requests"]) / scale
    last_end = max(r["end"] for r in rows) / scale
    windows = (arrivals[-1] - arrivals[0]) / WINDOW
    return {
        "requests": stats["totals"]["requests"],
        "accepted": len(rows),
        "rate_limited": stats["totals"]["rate_limited"],
        "busiest_window": busiest,
        "starts_per_window": (len(rows) - RATE) / windows if windows > 0 else None,
        "makespan": last_end - first,
        "bound": bound,
        "ratio": (last_end - first) / bound,
    }


def _run(mode: str, args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    config = FakeUpstreamConfig(rpm=RATE, window_seconds=WINDOW, time_scale=args.time_scale, seed=7)
    with FakeUpstreamServer(config) as server:
        share = [args.requests // args.processes] * args.processes
        share[0] += args.requests - sum(share)
        start_at = time.time() + 4.0  # every process imported and connected by then
        scope = f"bench-{secrets.token_hex(4)}"
        workers = [
            Worker(
                mode=mode,
                database_url=database_url,
                scope=scope,
                upstream=server.openrouter_base,
                requests=count,
                tasks=args.tasks,
                window_wall=WINDOW * args.time_scale,
                start_at=start_at,
            )
            for count in share
        ]
        with ProcessPoolExecutor(len(workers), mp_context=get_context("spawn")) as pool:
            list(pool.map(_process, workers))
        stats = server.stats()
    return _figures(stats, scale=args.time_scale, cap=args.processes * args.tasks)


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=8, help="concurrent requests per process")
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--modes", nargs="+", default=["fleet", "separate"])
    args = parser.parse_args()
    name = f"slidebatch_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(args.postgres, f'CREATE DATABASE "{name}"'))
    base = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    try:
        asyncio.run(_migrate(url))
        print(
            f"{args.processes} processes x {args.tasks} tasks, {args.requests} requests, "
            f"limit {RATE} per {WINDOW:g} s, time scale {args.time_scale}"
        )
        print(
            f"{'gate':<9} {'429s':>5} {'busiest window':>15} {'starts/window':>14} "
            f"{'makespan':>9} {'T*':>7} {'ratio':>6}"
        )
        for mode in args.modes:
            f = _run(mode, args, url)
            per = f["starts_per_window"]
            print(
                f"{mode:<9} {f['rate_limited']:>5} {f['busiest_window']:>9} of {RATE:<3} "
                f"{per if per is None else round(per, 1):>14} {f['makespan']:>8.1f}s "
                f"{f['bound']:>6.1f}s {f['ratio']:>6.3f}"
            )
    finally:
        asyncio.run(
            _admin(
                args.postgres,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            )
        )
        asyncio.run(_admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}"'))


async def _migrate(url: str) -> None:
    database = await Database.open(url)
    await database.close()


if __name__ == "__main__":
    main()
