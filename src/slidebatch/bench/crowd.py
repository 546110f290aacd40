"""``slidebatch bench --crowd``: many watchers on a few running batches, every request answered.

Issue 20's load: 10 batches running at once, 300 clients polling their status and 100
clients holding their Server-Sent Events streams, all on loopback against a real
``slidebatch serve`` (SQLite) whose upstream is the fake one in this process. The fake
allows ``RATE`` requests per ``WINDOW`` seconds, so the batches stay running for the whole
measurement instead of finishing before the watchers arrive.

Each poller asks ``GET /api/slide/batch/{id}`` about one batch (round-robin) once per
``POLL_INTERVAL`` seconds until the batch ends; each stream reads its batch's events until the
final ``batch`` event. Counted: every answer (a poll is answered when it is a 200; a stream
when it delivered its snapshot and its final event), the poll latencies and each stream's time
to its snapshot. Clients and server share the machine, so the latencies include the clients'
own scheduling.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from slidebatch.bench.environment import BenchEnvironment, EnvironmentConfig
from slidebatch.bench.load import lag_buckets, lag_p99_ms, percentile
from slidebatch.bench.scenarios import BatchSpec, deck_body

RATE = 60  # fake upstream: accepted requests per window
WINDOW = 3.0
LATENCY_MEDIAN = 0.45
LATENCY_P95 = 0.9
POLL_INTERVAL = 1.0
_ACTIVE = ("queued", "running")


@dataclass(frozen=True, slots=True)
class CrowdShape:
    """How many batches (of how many slides) and how many watchers of each kind."""

    batches: int = 10
    slides: int = 30
    pollers: int = 300
    streams: int = 100


QUICK = CrowdShape(batches=2, slides=4, pollers=6, streams=4)


@dataclass(slots=True)
class CrowdTally:
    """What the watchers saw; filled in while they run."""

    poll_ms: list[float] = field(default_factory=list)
    poll_failures: list[str] = field(default_factory=list)
    snapshot_ms: list[float] = field(default_factory=list)
    stream_events: int = 0
    streams_finished: int = 0
    stream_failures: list[str] = field(default_factory=list)
    running_at_start: int = 0
    seconds: float = 0.0
    server_lag_p99_ms: float | None = None  # the server's event-loop lag while watched
    resent: int = 0  # polls sent again after a kept-alive connection closed under them
    load_average: float = 0.0  # the machine's 1-minute load average at the end


async def _get(client: httpx.AsyncClient, url: str, tally: CrowdTally) -> httpx.Response:
    """GET ``url``, sent again once when the server had closed the kept-alive connection.

    A browser does the same: the server may close an idle connection (SERVER_KEEP_ALIVE_SECONDS)
    just as the client reuses it, and nothing was processed. Each resend is counted.
    """
    try:
        return await client.get(url)
    except (httpx.RemoteProtocolError, httpx.ReadError):
        tally.resent += 1
        return await client.get(url)


async def _poller(client: httpx.AsyncClient, batch_id: str, tally: CrowdTally) -> None:
    while True:
        started = time.perf_counter()
        try:
            answer = await _get(client, f"/api/slide/batch/{batch_id}", tally)
        except httpx.HTTPError as exc:
            tally.poll_failures.append(f"{type(exc).__name__}: {exc!r}")
            return
        tally.poll_ms.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            tally.poll_failures.append(f"HTTP {answer.status_code}: {answer.text[:120]}")
            return
        if answer.json()["status"] not in _ACTIVE:
            return
        await asyncio.sleep(max(0.0, POLL_INTERVAL - (time.perf_counter() - started)))


async def _stream(client: httpx.AsyncClient, batch_id: str, tally: CrowdTally) -> None:
    started = time.perf_counter()
    kinds: list[str] = []
    try:
        async with client.stream("GET", f"/api/slide/batch/{batch_id}/events") as answer:
            if answer.status_code != 200:
                tally.stream_failures.append(f"HTTP {answer.status_code}")
                return
            async for line in answer.aiter_lines():
                if not line.startswith("event:"):
                    continue
                kinds.append(line.removeprefix("event:").strip())
                if len(kinds) == 1:
                    tally.snapshot_ms.append((time.perf_counter() - started) * 1000)
                if kinds[-1] == "batch":
                    break
    except httpx.HTTPError as exc:
        tally.stream_failures.append(f"{type(exc).__name__}: {exc!r}")
        return
    tally.stream_events += len(kinds)
    if kinds[:1] == ["snapshot"] and kinds[-1:] == ["batch"]:
        tally.streams_finished += 1
    else:
        tally.stream_failures.append(f"stream ended after {kinds}")


async def _crowd(base_url: str, shape: CrowdShape) -> CrowdTally:
    tally = CrowdTally()
    watchers = shape.pollers + shape.streams
    limits = httpx.Limits(max_connections=watchers + 20, max_keepalive_connections=watchers + 20)
    timeout = httpx.Timeout(300.0, connect=30.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as client:
        url = "/api/slide/batch/generate?wait=false"
        submitted = await asyncio.gather(
            *(
                client.post(url, json=deck_body(BatchSpec(shape.slides), f"crowd-{n}"))
                for n in range(shape.batches)
            )
        )
        ids = [answer.json()["batch_id"] for answer in submitted]
        statuses = [(await client.get(f"/api/slide/batch/{i}")).json()["status"] for i in ids]
        tally.running_at_start = sum(1 for s in statuses if s == "running")
        before = await lag_buckets(client)
        started = time.perf_counter()
        await asyncio.gather(
            *(_poller(client, ids[n % len(ids)], tally) for n in range(shape.pollers)),
            *(_stream(client, ids[n % len(ids)], tally) for n in range(shape.streams)),
        )
        tally.seconds = time.perf_counter() - started
        tally.server_lag_p99_ms = lag_p99_ms(before, await lag_buckets(client))
        tally.load_average = os.getloadavg()[0]
    return tally


def run_crowd(root: Path, shape: CrowdShape) -> CrowdTally:
    """Start the fake upstream and a server under ``root``, run the crowd, stop both."""
    config = EnvironmentConfig(
        root=root,
        time_scale=1.0,
        rate=RATE,
        window=WINDOW,
        latency_median=LATENCY_MEDIAN,
        latency_p95=LATENCY_P95,
        llm_timeout=30.0,
        max_concurrent=max(shape.batches, 1),
    )
    with BenchEnvironment(config) as env:
        return asyncio.run(_crowd(env.base_url, shape))


def render_crowd(shape: CrowdShape, tally: CrowdTally) -> str:
    """The figures as a few lines of text."""

    def p50_p99(values: list[float]) -> str:
        if not values:
            return "-"
        return f"{statistics.median(values):.1f} / {percentile(values, 0.99):.1f} ms"

    return "\n".join(
        [
            f"{shape.batches} batches of {shape.slides} slides ({tally.running_at_start} running "
            f"when the watchers started), fake upstream {RATE} requests per {WINDOW:g} s, "
            f"latency median {LATENCY_MEDIAN:g} s; watched for {tally.seconds:.1f} s; "
            f"server event-loop lag p99 <= {tally.server_lag_p99_ms} ms; machine load "
            f"average {tally.load_average:.1f} on {os.cpu_count()} CPUs",
            f"status polls: {len(tally.poll_ms)} answered by {shape.pollers} pollers, "
            f"{len(tally.poll_failures)} failed ({tally.resent} sent again on a closed "
            f"keep-alive connection); p50 / p99 {p50_p99(tally.poll_ms)}",
            f"SSE streams: {tally.streams_finished} of {shape.streams} ran to the final event "
            f"({tally.stream_events} events), {len(tally.stream_failures)} failed; time to "
            f"snapshot p50 / p99 {p50_p99(tally.snapshot_ms)}",
            *(f"  failure: {text}" for text in (tally.poll_failures + tally.stream_failures)[:5]),
        ]
    )
